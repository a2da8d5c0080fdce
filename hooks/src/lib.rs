#[no_mangle] pub extern "C" fn jg_x()->u32{ jg::x() }
