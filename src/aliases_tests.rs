//! Unit tests of the alias table (src/aliases.rs).

use super::*;

const P: u64 = 4096;
const RW: i32 = 3;
const RX: i32 = 5;
const R: i32 = 1;
const MEMFD: Object = Object::File { dev: 1, ino: 26 };

fn view(start: u64, pages: u64, offset: u64, prot: i32) -> View {
    View {
        start: start * P,
        end: (start + pages) * P,
        object: MEMFD,
        offset: offset * P,
        prot,
        shared: true,
    }
}

fn spans(rs: &[Region]) -> Vec<(u64, u64)> {
    rs.iter().map(|r| (r.start / P, r.end / P)).collect()
}

#[test]
fn rx_then_rw_guards_the_rw_view() {
    // Erlang's order: the RX view first, then the RW one.
    let mut t = AliasTable::new();
    t.insert(view(100, 8, 0, RX));
    let p = Pending {
        object: MEMFD,
        offset: 0,
        len: 8 * P,
        prot: RW,
    };
    assert!(t.would_alias(p));
    t.insert(view(200, 8, 0, RW));
    let s = t.sync(None);
    assert_eq!(spans(&s.guard), vec![(200, 208)]);
    assert!(s.release.is_empty());
    // Nothing changes: nothing to do.
    assert_eq!(t.sync(None), Sync::default());
}

#[test]
fn rw_then_rx_guards_before_the_rx_view_exists() {
    let mut t = AliasTable::new();
    t.insert(view(200, 8, 0, RW));
    assert!(t.sync(None).guard.is_empty());
    let p = Pending {
        object: MEMFD,
        offset: 2 * P,
        len: 2 * P,
        prot: RX,
    };
    let s = t.sync(Some(p));
    assert_eq!(spans(&s.guard), vec![(202, 204)]);
}

#[test]
fn only_the_overlapping_object_range_is_guarded() {
    let mut t = AliasTable::new();
    t.insert(view(100, 4, 4, RX)); // object pages 4..8
    t.insert(view(200, 8, 0, RW)); // object pages 0..8
    assert_eq!(spans(&t.sync(None).guard), vec![(204, 208)]);
    // Another object, or a private writable view, aliases nothing.
    let other = View {
        object: Object::File { dev: 1, ino: 27 },
        ..view(300, 8, 0, RW)
    };
    t.insert(other);
    t.insert(View {
        shared: false,
        ..view(400, 8, 0, RW)
    });
    assert!(t.sync(None).guard.is_empty());
}

#[test]
fn losing_exec_or_the_exec_view_releases() {
    let mut t = AliasTable::new();
    t.insert(view(100, 8, 0, RX));
    t.insert(view(200, 8, 0, RW));
    t.sync(None);
    // mprotect of the exec view to read-only: the RW view is data again.
    t.set_prot(100 * P, 102 * P, R);
    assert_eq!(spans(&t.sync(None).release), vec![(200, 202)]);
    assert_eq!(spans(&t.sync(None).release), Vec::<(u64, u64)>::new());
    // Exec back: guarded again.
    t.set_prot(100 * P, 102 * P, RX);
    assert_eq!(spans(&t.sync(None).guard), vec![(200, 208)]);
    // munmap of part of the exec view.
    t.remove(104 * P, 108 * P);
    assert_eq!(spans(&t.sync(None).release), vec![(204, 208)]);
}

#[test]
fn the_rw_view_becoming_rwx_is_left_to_the_wx_guard() {
    let mut t = AliasTable::new();
    t.insert(view(100, 8, 0, RX));
    t.insert(view(200, 8, 0, RW));
    t.sync(None);
    t.set_prot(200 * P, 208 * P, 7);
    assert_eq!(spans(&t.sync(None).release), vec![(200, 208)]);
    // And an RWX view counts as executable for another RW view.
    t.insert(view(300, 8, 0, RW));
    assert_eq!(spans(&t.sync(None).guard), vec![(300, 308)]);
}

#[test]
fn remap_moves_views_with_their_offsets() {
    let mut t = AliasTable::new();
    t.insert(view(100, 8, 0, RX));
    t.insert(view(200, 4, 0, RW));
    t.sync(None);
    // Grow the RW view to 8 pages at a new place.
    t.remap(200 * P, 4 * P, 500 * P, 8 * P);
    let v = t.find(505 * P).unwrap();
    assert_eq!((v.start / P, v.end / P, v.offset), (500, 508, 0));
    let s = t.sync(None);
    assert_eq!(spans(&s.guard), vec![(500, 508)]);
    assert_eq!(spans(&s.release), vec![(200, 204)]);
}

#[test]
fn remove_splits_and_keeps_offsets() {
    let mut t = AliasTable::new();
    t.insert(view(100, 10, 3, RW));
    assert_eq!(t.views_in(101 * P, 103 * P)[0].offset, 4 * P);
    let gone = t.remove(102 * P, 105 * P);
    assert_eq!(gone.len(), 1);
    assert_eq!(gone[0].offset, 5 * P);
    let right = t.find(106 * P).unwrap();
    assert_eq!((right.start / P, right.offset / P), (105, 8));
    assert!(t.find(103 * P).is_none());
    assert!(t.overlaps(101 * P, 103 * P));
    assert!(!t.overlaps(102 * P, 105 * P));
    assert_eq!(t.len(), 2);
    assert_eq!(t.spans(), vec![(100 * P, 102 * P), (105 * P, 110 * P)]);
}

#[test]
fn a_prot_change_on_a_guarded_view_is_guarded_again() {
    let mut t = AliasTable::new();
    t.insert(view(100, 8, 0, RX));
    t.insert(view(200, 8, 0, RW));
    t.sync(None);
    // RW -> write-only-ish change of prot bits keeps write: re-guard
    // with the new protection.
    t.set_prot(200 * P, 201 * P, 2);
    let s = t.sync(None);
    assert_eq!(spans(&s.guard), vec![(200, 201)]);
    assert_eq!(s.guard[0].prot, 2);
}

#[test]
fn read_implies_exec_makes_readable_executable() {
    assert_eq!(effective_prot(RW, true), 7);
    assert_eq!(effective_prot(RW, false), RW);
    assert_eq!(effective_prot(2, true), 2);
    assert_eq!(effective_prot(0, true), 0);
}

#[test]
fn makedev_matches_glibc() {
    assert_eq!(makedev(0, 1), 1);
    assert_eq!(makedev(8, 1), 0x801);
    assert_eq!(makedev(259, 3), 0x10303);
}
