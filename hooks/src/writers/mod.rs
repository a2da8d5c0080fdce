//! Who is writing: the loaded modules and the writer policy resolved
//! against them (`view`), the walk from a faulting instruction to its
//! deciding frame (`walk`), and learn-mode recording (`learn`).

mod learn;
mod modules;
mod view;
mod walk;

pub use learn::{learn, save_learned};
pub use modules::record_startup_modules;
pub use view::{
    before_dlclose, ensure_view, lock_for_fork, notice_if_unauthenticated, refresh, source_name,
    unlock_after_fork, view, View,
};
pub use walk::{
    call_window_slot, creator, regs_from, vouched, walk, walk_from_hook, Creator, Walk,
};
