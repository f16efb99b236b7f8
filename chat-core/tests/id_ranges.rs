//! Each user's database numbers its new rows in a range of its own
//! (`ChatStore::set_id_base`), so ids are unique across users as the reference's: rows made
//! before keep theirs, the next ones go above the base, and a reopened database carries on.

use chat_core::group_store::{MemberCategory, MemberStatus, NewMember};
use chat_core::protocol::{GroupMemberRole, GroupProfile, MsgContent, Profile, B64};
use chat_core::store::{ChatStore, NewItem, PendingKind, USER_ID_RANGE};

fn profile(name: &str) -> Profile {
    Profile {
        display_name: name.into(),
        ..Profile::default()
    }
}

fn contact_with_item(s: &mut ChatStore, conn_id: u64, name: &str) -> (i64, i64) {
    s.add_pending(conn_id, PendingKind::Invitation, None)
        .expect("pending");
    let c = s.add_contact(conn_id, &profile(name)).expect("contact");
    let content = MsgContent::Text { text: "hi".into() };
    let item = s
        .add_item(&NewItem {
            contact_id: c.contact_id,
            sent: true,
            shared_msg_id: None,
            agent_msg_id: None,
            content: &content,
            quote: None,
            edited: false,
        })
        .expect("item");
    (c.contact_id, item.item_id)
}

fn group_with_member(s: &ChatStore, name: &str) -> (i64, i64) {
    let g = s
        .add_group(
            &GroupProfile {
                display_name: name.into(),
                ..GroupProfile::default()
            },
            &B64(vec![1; 12]),
            GroupMemberRole::Owner,
            MemberStatus::Creator,
            None,
        )
        .expect("group");
    let m = s
        .add_member(&NewMember {
            group_id: g.group_id,
            member_id: &B64(vec![2; 12]),
            role: GroupMemberRole::Member,
            category: MemberCategory::Invitee,
            status: MemberStatus::Invited,
            profile: &profile(&format!("{name}_member")),
            conn_id: None,
            contact_id: None,
            invited_by: None,
        })
        .expect("member");
    (g.group_id, m.group_member_id)
}

#[test]
fn new_rows_are_numbered_in_the_users_range() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("a_u3_chat.db");
    let base = 2 * USER_ID_RANGE;
    // Made before the ranges: the first contact is 2 (1 is the notes), items from 1.
    let (old_contact, old_item, old_group) = {
        let mut s = ChatStore::open(&path, None).expect("open");
        s.set_user(&profile("alice")).expect("user");
        let (c, i) = contact_with_item(&mut s, 7, "bob");
        let (g, _) = group_with_member(&s, "team");
        (c, i, g)
    };
    assert_eq!((old_contact, old_item, old_group), (2, 1, 1));

    let mut s = ChatStore::open(&path, None).expect("reopen");
    s.set_id_base(base).expect("base");
    assert_eq!(s.id_base(), base);
    let (c, i) = contact_with_item(&mut s, 8, "carol");
    assert_eq!(
        c,
        base + 2,
        "contacts start above the base as user 1's start above 1"
    );
    assert_eq!(i, base + 1);
    let (g, m) = group_with_member(&s, "club");
    assert_eq!((g, m), (base + 1, base + 1));
    // The rows made before are still there under their ids.
    assert_eq!(
        s.contact(old_contact)
            .expect("read")
            .map(|c| c.local_name)
            .as_deref(),
        Some("bob")
    );
    drop(s);

    // Reopened with its base again: numbering carries on, nothing is reused.
    let mut s = ChatStore::open(&path, None).expect("reopen");
    s.set_id_base(base).expect("base");
    let (c2, i2) = contact_with_item(&mut s, 9, "dan");
    assert_eq!((c2, i2), (base + 3, base + 2));
    drop(s);

    // Without a base (user 1): as before.
    let path1 = dir.path().join("a_chat.db");
    let mut s = ChatStore::open(&path1, None).expect("open");
    s.set_user(&profile("alisa")).expect("user");
    s.set_id_base(0).expect("base");
    assert_eq!(contact_with_item(&mut s, 7, "bob"), (2, 1));
}
