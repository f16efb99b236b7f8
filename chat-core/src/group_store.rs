//! Groups in the chat database (schema v13): each group with our membership in it (our member
//! id, role and status), its members - each on its own agent connection once connected - and,
//! on the member who invited a newcomer, the introductions it made.
//!
//! ```text
//! groups(group_id, local_name UNIQUE, profile JSON, member_id, role, status, conn_request,
//!        created_at)
//! group_members(group_member_id, group_id, member_id, role, category, status, profile JSON,
//!               local_name, conn_id UNIQUE, contact_id, invited_by, created_at)
//! group_intros(re_member, to_member, status)
//! chat_items(... group_id, group_member_id)   -- a group item: contact_id NULL
//! ```
//! Names of groups and of members who are no contact share the contacts' namespace, as the
//! reference's `display_names`: a member called as a contact is `bob_1`.

use rusqlite::{params, OptionalExtension};

use crate::protocol::{GroupMemberRole, GroupProfile, MemberId, MsgContent, Profile, B64};
use crate::store::{
    now_ms, profile_from, profile_json, ChatItem, ChatStore, ItemQuote, StoreError,
};

type Result<T> = std::result::Result<T, StoreError>;

/// How a member came to be known to us (the reference's `GroupMemberCategory`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberCategory {
    /// We invited it.
    Invitee,
    /// It invited us.
    Host,
    /// It was in the group before us; our host introduced it.
    Pre,
    /// It joined after us; announced by the member who invited it.
    Post,
}

impl MemberCategory {
    /// The reference's JSON name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Invitee => "invitee",
            Self::Host => "host",
            Self::Pre => "pre",
            Self::Post => "post",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "invitee" => Self::Invitee,
            "host" => Self::Host,
            "pre" => Self::Pre,
            "post" => Self::Post,
            _ => return None,
        })
    }
}

/// Where a member (or our membership) stands (the reference's `GroupMemberStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberStatus {
    /// Invited, not joined yet.
    Invited,
    /// Introduced to us; our invitation for it sent to the host.
    IntroInvited,
    /// Joined (the connection is being made).
    Accepted,
    /// Announced by the member who invited it.
    Announced,
    /// Connected.
    Connected,
    /// Left the group.
    Left,
    /// Removed.
    Removed,
    /// The group was deleted.
    GroupDeleted,
    /// We created the group.
    Creator,
    /// Joined through a link, waiting for the host's approval (a captcha, a bot's check).
    PendingApproval,
    /// Joined through a link, waiting for the group's admins to review it: it talks with
    /// them only (its support chat) until one accepts it.
    PendingReview,
    /// Known only as the author of a message a host forwarded (the reference's unknown
    /// member record): its member id and name, until it is announced or introduced.
    Unknown,
    /// Our request to join through a link was refused by the group's admins
    /// (`x.grp.link.reject`): the group is kept, nothing more comes from it.
    Rejected,
}

impl MemberStatus {
    /// The reference's JSON name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Invited => "invited",
            Self::IntroInvited => "intro-inv",
            Self::Accepted => "accepted",
            Self::Announced => "announced",
            Self::Connected => "connected",
            Self::Left => "left",
            Self::Removed => "removed",
            Self::GroupDeleted => "deleted",
            Self::Creator => "creator",
            Self::PendingApproval => "pending_approval",
            Self::PendingReview => "pending_review",
            Self::Unknown => "unknown",
            Self::Rejected => "rejected",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "invited" => Self::Invited,
            "intro-inv" => Self::IntroInvited,
            "accepted" => Self::Accepted,
            "announced" => Self::Announced,
            "connected" => Self::Connected,
            "left" => Self::Left,
            "removed" => Self::Removed,
            "deleted" => Self::GroupDeleted,
            "creator" => Self::Creator,
            "pending_approval" => Self::PendingApproval,
            "pending_review" => Self::PendingReview,
            "unknown" => Self::Unknown,
            "rejected" => Self::Rejected,
            _ => return None,
        })
    }

    /// Waiting for approval or the admins' review.
    pub fn is_pending(self) -> bool {
        matches!(self, Self::PendingApproval | Self::PendingReview)
    }

    /// The statuses of a member not (or no longer) in the group: invited only, gone, or
    /// refused.
    pub const NOT_CURRENT: [Self; 5] = [
        Self::Invited,
        Self::Left,
        Self::Removed,
        Self::GroupDeleted,
        Self::Rejected,
    ];

    /// Still in the group (not invited only, not gone).
    pub fn is_current(self) -> bool {
        !Self::NOT_CURRENT.contains(&self)
    }
}

fn role_from(s: &str) -> Result<GroupMemberRole> {
    serde_json::from_value(serde_json::Value::String(s.to_string()))
        .map_err(|_| StoreError::Corrupt("member role"))
}

/// A group, with our membership in it.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    /// Its id.
    pub group_id: i64,
    /// The unique local name commands use (`team`, `team_1`).
    pub local_name: String,
    /// Its profile.
    pub profile: GroupProfile,
    /// Our member id in it.
    pub member_id: MemberId,
    /// Our role.
    pub role: GroupMemberRole,
    /// Our membership's status.
    pub status: MemberStatus,
    /// The invitation to join (until we join).
    pub conn_request: Option<String>,
    /// When it was created here (ms since the epoch).
    pub created_at: i64,
    /// The random profile the group knows us by (incognito membership).
    pub incognito: Option<Box<Profile>>,
    /// Muted by the user (`/mute #group`): its messages are shown marked `<muted>`.
    pub muted: bool,
    /// Muted but for what mentions us or replies to us (`/unmute mentions #group`, the
    /// reference's notifications of mentions only): those are shown as usual.
    pub mentions_only: bool,
    /// A bot's own data about the group (a JSON object), if set.
    pub custom_data: Option<String>,
    /// The user's own name for the group (`/_set alias #N text`; empty: none).
    pub local_alias: String,
    /// Its receipts and favorite settings.
    pub flags: crate::store::ChatFlags,
    /// A business chat's data (a group made through a business address).
    pub business: Option<Box<crate::protocol::BusinessChatInfo>>,
    /// The user's tags on its chat (`tags.rs`), by id.
    pub tags: Vec<i64>,
    /// The apps' theme overrides of its chat (`themes.rs`; kept JSON).
    pub ui_themes: Option<String>,
}

/// A member of a group other than us.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    /// Its id here.
    pub group_member_id: i64,
    /// The group.
    pub group_id: i64,
    /// Its member id (the same on every member).
    pub member_id: MemberId,
    /// Its role.
    pub role: GroupMemberRole,
    /// How we know it.
    pub category: MemberCategory,
    /// Where it stands.
    pub status: MemberStatus,
    /// Its profile.
    pub profile: Profile,
    /// Its local name (its contact's when it is one).
    pub local_name: String,
    /// Its agent connection.
    pub conn_id: Option<u64>,
    /// The contact it is.
    pub contact_id: Option<i64>,
    /// The member who invited or introduced it (none: we did).
    pub invited_by: Option<i64>,
    /// When we learnt of it (ms).
    pub created_at: i64,
    /// Its messages are shown (not blocked by us with `/block`).
    pub show_messages: bool,
    /// Blocked for all by a moderator or above (`/block for all`, `x.grp.mem.restrict`).
    pub blocked_by_admin: bool,
    /// Messages to it the relay refused (AUTH) since it was enabled: at
    /// [`crate::disable::AUTH_ERR_DISABLE_COUNT`] it is disabled (sent nothing).
    pub auth_errors: i64,
    /// Its signing key in a channel (an Ed25519 public key, X.509 DER), when it gave one.
    pub member_key: Option<Vec<u8>>,
}

/// A member to record.
#[derive(Debug, Clone)]
pub struct NewMember<'a> {
    /// The group.
    pub group_id: i64,
    /// Its member id.
    pub member_id: &'a MemberId,
    /// Its role.
    pub role: GroupMemberRole,
    /// How we know it.
    pub category: MemberCategory,
    /// Where it stands.
    pub status: MemberStatus,
    /// Its profile.
    pub profile: &'a Profile,
    /// Its agent connection.
    pub conn_id: Option<u64>,
    /// The contact it is (then it goes by the contact's name).
    pub contact_id: Option<i64>,
    /// The member who invited or introduced it.
    pub invited_by: Option<i64>,
}

/// At most this many messages are kept for one member whose connection is not up yet (one
/// invited and never joining): more are not kept - a member who joins gets the group's recent
/// history besides.
pub const MAX_PENDING_MESSAGES: i64 = 1_000;

const GROUP_COLUMNS: &str =
    "group_id, local_name, profile, member_id, role, status, conn_request, created_at, incognito,
     muted, custom_data, send_rcpts, favorite, business, local_alias,
     (SELECT group_concat(t.tag_id) FROM chat_tags_chats t WHERE t.group_id = groups.group_id),
     ui_themes";
const MEMBER_COLUMNS: &str = "group_member_id, group_id, member_id, role, category, status,
     profile, local_name, conn_id, contact_id, invited_by, created_at, show_messages,
     blocked_by_admin, auth_errors, member_key";

type GroupRow = (
    i64,
    String,
    String,
    Vec<u8>,
    String,
    String,
    Option<String>,
    i64,
    Option<String>,
    i64,
    Option<String>,
    Option<bool>,
    bool,
    Option<String>,
    String,
    Option<String>,
    Option<String>,
);

type MemberRow = (
    (i64, i64, Vec<u8>, String, String, String),
    (String, String, Option<i64>, Option<i64>, Option<i64>, i64),
    (bool, bool, i64, Option<Vec<u8>>),
);

fn group_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<GroupRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
        r.get(9)?,
        r.get(10)?,
        r.get(11)?,
        r.get(12)?,
        r.get(13)?,
        r.get(14)?,
        r.get(15)?,
        r.get(16)?,
    ))
}

fn group_from(
    (
        group_id,
        local_name,
        profile,
        member_id,
        role,
        status,
        conn_request,
        created_at,
        incognito,
        muted,
        custom_data,
        send_rcpts,
        favorite,
        business,
        local_alias,
        tags,
        ui_themes,
    ): GroupRow,
) -> Result<Group> {
    Ok(Group {
        group_id,
        local_name,
        profile: serde_json::from_str(&profile)
            .map_err(|_| StoreError::Corrupt("group profile"))?,
        member_id: B64(member_id),
        role: role_from(&role)?,
        status: MemberStatus::parse(&status).ok_or(StoreError::Corrupt("membership status"))?,
        conn_request,
        created_at,
        incognito: incognito
            .as_deref()
            .map(profile_from)
            .transpose()?
            .map(Box::new),
        // 0: not muted, 1: muted, 2: muted but for mentions of us.
        muted: muted != 0,
        mentions_only: muted == 2,
        custom_data,
        local_alias,
        flags: crate::store::ChatFlags {
            send_rcpts,
            favorite,
        },
        business: business
            .map(|b| serde_json::from_str(&b).map_err(|_| StoreError::Corrupt("business chat")))
            .transpose()?,
        tags: crate::tags::tag_ids(tags.as_deref()),
        ui_themes,
    })
}

fn member_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<MemberRow> {
    Ok((
        (
            r.get(0)?,
            r.get(1)?,
            r.get(2)?,
            r.get(3)?,
            r.get(4)?,
            r.get(5)?,
        ),
        (
            r.get(6)?,
            r.get(7)?,
            r.get(8)?,
            r.get(9)?,
            r.get(10)?,
            r.get(11)?,
        ),
        (r.get(12)?, r.get(13)?, r.get(14)?, r.get(15)?),
    ))
}

fn member_from(
    (
        (group_member_id, group_id, member_id, role, category, status),
        (profile, local_name, conn_id, contact_id, invited_by, created_at),
        (show_messages, blocked_by_admin, auth_errors, member_key),
    ): MemberRow,
) -> Result<Member> {
    Ok(Member {
        group_member_id,
        group_id,
        member_id: B64(member_id),
        role: role_from(&role)?,
        category: MemberCategory::parse(&category).ok_or(StoreError::Corrupt("member category"))?,
        status: MemberStatus::parse(&status).ok_or(StoreError::Corrupt("member status"))?,
        profile: profile_from(&profile)?,
        local_name,
        conn_id: conn_id.map(|c| c as u64),
        contact_id,
        invited_by,
        created_at,
        show_messages,
        blocked_by_admin,
        auth_errors,
        member_key,
    })
}

impl ChatStore {
    /// Whether our profile changed (at `updated_at`) since it last went to the group's members.
    pub fn profile_due(&self, group_id: i64, updated_at: i64) -> Result<bool> {
        let sent: Option<i64> = self
            .db
            .query_row(
                "SELECT profile_sent_at FROM groups WHERE group_id = ?1",
                [group_id],
                |r| r.get(0),
            )
            .optional()?
            .flatten();
        Ok(sent.is_none_or(|s| s < updated_at))
    }

    /// Our profile went to the group's members now.
    pub fn set_profile_sent(&self, group_id: i64) -> Result<()> {
        self.db.execute(
            "UPDATE groups SET profile_sent_at = ?2 WHERE group_id = ?1",
            params![group_id, now_ms()],
        )?;
        Ok(())
    }

    /// Records a group (a new one of ours, or one we are invited to) under a unique local
    /// name.
    pub fn add_group(
        &self,
        profile: &GroupProfile,
        member_id: &MemberId,
        role: GroupMemberRole,
        status: MemberStatus,
        conn_request: Option<&str>,
    ) -> Result<Group> {
        let name = self.unique_name(&profile.display_name)?;
        let json =
            serde_json::to_string(profile).map_err(|_| StoreError::Corrupt("group profile"))?;
        let created_at = now_ms();
        let group_id = crate::store::next_row_id(&self.db, "groups", "group_id", self.id_base)?;
        self.db.execute(
            "INSERT INTO groups
               (local_name, profile, member_id, role, status, conn_request, created_at,
                profile_sent_at, group_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?8)",
            params![
                name,
                json,
                member_id.0,
                role.name(),
                status.as_str(),
                conn_request,
                created_at,
                group_id
            ],
        )?;
        Ok(Group {
            group_id,
            local_name: name,
            profile: profile.clone(),
            member_id: member_id.clone(),
            role,
            status,
            conn_request: conn_request.map(str::to_string),
            created_at,
            incognito: None,
            muted: false,
            mentions_only: false,
            custom_data: None,
            local_alias: String::new(),
            flags: crate::store::ChatFlags::default(),
            business: None,
            tags: Vec::new(),
            ui_themes: None,
        })
    }

    /// Marks a group as a business chat.
    pub fn set_group_business(
        &self,
        group_id: i64,
        business: &crate::protocol::BusinessChatInfo,
    ) -> Result<()> {
        let json =
            serde_json::to_string(business).map_err(|_| StoreError::Corrupt("business chat"))?;
        self.db.execute(
            "UPDATE groups SET business = ?2 WHERE group_id = ?1",
            params![group_id, json],
        )?;
        Ok(())
    }

    /// A group's receipts and favorite settings (`/receipts #g`, `/_settings #N`).
    pub fn set_group_flags(&self, group_id: i64, flags: crate::store::ChatFlags) -> Result<()> {
        self.db.execute(
            "UPDATE groups SET send_rcpts = ?2, favorite = ?3 WHERE group_id = ?1",
            params![group_id, flags.send_rcpts, flags.favorite],
        )?;
        Ok(())
    }

    /// Every group's receipts setting back to the user's default (`clear_overrides=on`).
    pub fn clear_group_receipts(&self) -> Result<()> {
        self.db.execute("UPDATE groups SET send_rcpts = NULL", [])?;
        Ok(())
    }

    /// A group's theme overrides (`/_set theme #N`; none: removed), as `themes::parse` kept
    /// them.
    pub fn set_group_themes(&self, group_id: i64, themes: Option<&str>) -> Result<()> {
        self.db.execute(
            "UPDATE groups SET ui_themes = ?2 WHERE group_id = ?1",
            params![group_id, themes],
        )?;
        Ok(())
    }

    /// The user's own name for a group (empty: none).
    pub fn set_group_alias(&self, group_id: i64, alias: &str) -> Result<()> {
        self.db.execute(
            "UPDATE groups SET local_alias = ?2 WHERE group_id = ?1",
            params![group_id, alias],
        )?;
        Ok(())
    }

    /// A bot's own data about a group (none: removed).
    pub fn set_group_custom_data(&self, group_id: i64, json: Option<&str>) -> Result<()> {
        self.db.execute(
            "UPDATE groups SET custom_data = ?2 WHERE group_id = ?1",
            params![group_id, json],
        )?;
        Ok(())
    }

    /// Mutes (or unmutes) a group's chat; `mentions_only`: muted but for what mentions us.
    pub fn set_group_muted(&self, group_id: i64, muted: bool, mentions_only: bool) -> Result<()> {
        let level = match (muted, mentions_only) {
            (false, _) => 0,
            (true, false) => 1,
            (true, true) => 2,
        };
        self.db.execute(
            "UPDATE groups SET muted = ?2 WHERE group_id = ?1",
            params![group_id, level],
        )?;
        Ok(())
    }

    /// Our membership in a group is incognito: the group knows us by `p`.
    pub fn set_group_incognito(&self, group_id: i64, p: &Profile) -> Result<()> {
        self.db.execute(
            "UPDATE groups SET incognito = ?2 WHERE group_id = ?1",
            params![group_id, profile_json(p)?],
        )?;
        Ok(())
    }

    /// The group known by the user's own profile again.
    pub fn clear_group_incognito(&self, group_id: i64) -> Result<()> {
        self.db.execute(
            "UPDATE groups SET incognito = NULL WHERE group_id = ?1",
            [group_id],
        )?;
        Ok(())
    }

    fn group_where(&self, clause: &str, arg: rusqlite::types::Value) -> Result<Option<Group>> {
        let sql = format!("SELECT {GROUP_COLUMNS} FROM groups WHERE {clause}");
        self.db
            .query_row(&sql, [arg], group_row)
            .optional()?
            .map(group_from)
            .transpose()
    }

    /// The group with an id.
    pub fn group(&self, group_id: i64) -> Result<Option<Group>> {
        self.group_where("group_id = ?1", group_id.into())
    }

    /// The group with a local name.
    pub fn group_by_name(&self, name: &str) -> Result<Option<Group>> {
        self.group_where("local_name = ?1", name.to_string().into())
    }

    /// All groups, by name.
    pub fn groups(&self) -> Result<Vec<Group>> {
        let sql = format!("SELECT {GROUP_COLUMNS} FROM groups ORDER BY lower(local_name)");
        let mut st = self.db.prepare(&sql)?;
        let rows = st.query_map([], group_row)?;
        rows.map(|r| group_from(r?)).collect()
    }

    /// Our membership's new status; joining forgets the invitation.
    pub fn set_group_status(&self, group_id: i64, status: MemberStatus) -> Result<()> {
        self.db.execute(
            "UPDATE groups SET status = ?2,
               conn_request = CASE WHEN ?2 = 'invited' THEN conn_request END
             WHERE group_id = ?1",
            params![group_id, status.as_str()],
        )?;
        Ok(())
    }

    /// How many unknown members (authors known only by forwarded messages) a group has.
    pub fn unknown_members(&self, group_id: i64) -> Result<u64> {
        let n: i64 = self.db.query_row(
            "SELECT count(*) FROM group_members WHERE group_id = ?1 AND status = 'unknown'",
            [group_id],
            |r| r.get(0),
        )?;
        Ok(n.max(0) as u64)
    }

    /// An unknown member (known only by a forwarded message) announced or introduced at
    /// last: it becomes `m` (its profile, role, category, status, connection, inviter), named
    /// anew when its name changed.
    pub fn adopt_unknown_member(&self, unknown: &Member, m: &NewMember<'_>) -> Result<Member> {
        let name = if m.profile.display_name == unknown.profile.display_name {
            unknown.local_name.clone()
        } else {
            self.unique_name(&m.profile.display_name)?
        };
        self.db.execute(
            "UPDATE group_members SET role = ?2, category = ?3, status = ?4, profile = ?5,
               local_name = ?6, conn_id = ?7, invited_by = ?8
             WHERE group_member_id = ?1",
            params![
                unknown.group_member_id,
                m.role.name(),
                m.category.as_str(),
                m.status.as_str(),
                profile_json(m.profile)?,
                name,
                m.conn_id.map(|c| c as i64),
                m.invited_by
            ],
        )?;
        Ok(Member {
            role: m.role,
            category: m.category,
            status: m.status,
            profile: m.profile.clone(),
            local_name: name,
            conn_id: m.conn_id,
            invited_by: m.invited_by,
            ..unknown.clone()
        })
    }

    /// Records a member; one who is a contact goes by the contact's name.
    pub fn add_member(&self, m: &NewMember<'_>) -> Result<Member> {
        let contact_name = match m.contact_id {
            Some(c) => self
                .db
                .query_row(
                    "SELECT local_name FROM contacts WHERE contact_id = ?1",
                    [c],
                    |r| r.get::<_, String>(0),
                )
                .optional()?,
            None => None,
        };
        let name = match contact_name {
            Some(n) => n,
            None => self.unique_name(&m.profile.display_name)?,
        };
        let created_at = now_ms();
        let group_member_id =
            crate::store::next_row_id(&self.db, "group_members", "group_member_id", self.id_base)?;
        self.db.execute(
            "INSERT INTO group_members
               (group_id, member_id, role, category, status, profile, local_name, conn_id,
                contact_id, invited_by, created_at, group_member_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            params![
                m.group_id,
                m.member_id.0,
                m.role.name(),
                m.category.as_str(),
                m.status.as_str(),
                profile_json(m.profile)?,
                name,
                m.conn_id.map(|c| c as i64),
                m.contact_id,
                m.invited_by,
                created_at,
                group_member_id
            ],
        )?;
        Ok(Member {
            group_member_id,
            group_id: m.group_id,
            member_id: m.member_id.clone(),
            role: m.role,
            category: m.category,
            status: m.status,
            profile: m.profile.clone(),
            local_name: name,
            conn_id: m.conn_id,
            contact_id: m.contact_id,
            invited_by: m.invited_by,
            created_at,
            show_messages: true,
            blocked_by_admin: false,
            auth_errors: 0,
            member_key: None,
        })
    }

    fn member_where(&self, clause: &str, args: &[&dyn rusqlite::ToSql]) -> Result<Option<Member>> {
        Ok(self.members_where(clause, args)?.pop())
    }

    pub(crate) fn members_where(
        &self,
        clause: &str,
        args: &[&dyn rusqlite::ToSql],
    ) -> Result<Vec<Member>> {
        let sql = format!("SELECT {MEMBER_COLUMNS} FROM group_members WHERE {clause}");
        let mut st = self.db.prepare(&sql)?;
        let rows = st.query_map(args, member_row)?;
        rows.map(|r| member_from(r?)).collect()
    }

    /// A member by its id here.
    pub fn member(&self, group_member_id: i64) -> Result<Option<Member>> {
        self.member_where("group_member_id = ?1", &[&group_member_id])
    }

    /// The member on an agent connection.
    pub fn member_by_conn(&self, conn_id: u64) -> Result<Option<Member>> {
        self.member_where("conn_id = ?1", &[&(conn_id as i64)])
    }

    /// A group's member by its member id.
    pub fn member_by_member_id(
        &self,
        group_id: i64,
        member_id: &MemberId,
    ) -> Result<Option<Member>> {
        self.member_where(
            "group_id = ?1 AND member_id = ?2",
            &[&group_id, &member_id.0],
        )
    }

    /// A group's member by local name (the latest one when several went by it).
    pub fn member_by_name(&self, group_id: i64, name: &str) -> Result<Option<Member>> {
        self.member_where(
            "group_id = ?1 AND local_name = ?2 ORDER BY group_member_id",
            &[&group_id, &name],
        )
    }

    /// A group's members in the order we learnt of them.
    pub fn members(&self, group_id: i64) -> Result<Vec<Member>> {
        self.members_where("group_id = ?1 ORDER BY group_member_id", &[&group_id])
    }

    /// A member's new status. A member gone is sent nothing it was waiting for.
    pub fn set_member_status(&self, group_member_id: i64, status: MemberStatus) -> Result<()> {
        self.db.execute(
            "UPDATE group_members SET status = ?2 WHERE group_member_id = ?1",
            params![group_member_id, status.as_str()],
        )?;
        if matches!(
            status,
            MemberStatus::Left | MemberStatus::Removed | MemberStatus::GroupDeleted
        ) {
            self.db.execute(
                "DELETE FROM pending_group_messages WHERE group_member_id = ?1",
                [group_member_id],
            )?;
        }
        Ok(())
    }

    /// Records the link the group was joined by (as used).
    pub fn set_group_via_link(&self, group_id: i64, link: &str) -> Result<()> {
        self.db.execute(
            "UPDATE groups SET via_link = ?2 WHERE group_id = ?1",
            params![group_id, link],
        )?;
        Ok(())
    }

    /// The group last joined by `link` (as used).
    pub fn group_by_via_link(&self, link: &str) -> Result<Option<i64>> {
        Ok(self
            .db
            .query_row(
                "SELECT group_id FROM groups WHERE via_link = ?1 ORDER BY group_id DESC LIMIT 1",
                [link],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// The group whose link of ours is `link` (as shown).
    pub fn group_by_own_link(&self, link: &str) -> Result<Option<i64>> {
        Ok(self
            .db
            .query_row(
                "SELECT group_id FROM group_links WHERE link = ?1 OR short_link = ?1 LIMIT 1",
                [link],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Keeps a message for a member whose connection is not up yet (invited or accepted, as
    /// the member's row says now); false when not kept: it connected meanwhile, or holds
    /// [`MAX_PENDING_MESSAGES`] already.
    pub fn add_pending_message(&self, group_member_id: i64, body: &[u8]) -> Result<bool> {
        let n = self.db.execute(
            "INSERT INTO pending_group_messages (group_member_id, body, created_at)
             SELECT ?1, ?2, ?3
             WHERE (SELECT status FROM group_members WHERE group_member_id = ?1)
                   IN ('invited', 'accepted')
               AND (SELECT count(*) FROM pending_group_messages WHERE group_member_id = ?1) < ?4",
            params![group_member_id, body, now_ms(), MAX_PENDING_MESSAGES],
        )?;
        Ok(n == 1)
    }

    /// The messages kept for a member, oldest first: (id, body).
    pub fn pending_messages(&self, group_member_id: i64) -> Result<Vec<(i64, Vec<u8>)>> {
        let mut st = self.db.prepare(
            "SELECT pending_id, body FROM pending_group_messages
             WHERE group_member_id = ?1 ORDER BY pending_id",
        )?;
        let rows = st.query_map([group_member_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// A kept message was handed to the agent.
    pub fn delete_pending_message(&self, pending_id: i64) -> Result<()> {
        self.db.execute(
            "DELETE FROM pending_group_messages WHERE pending_id = ?1",
            [pending_id],
        )?;
        Ok(())
    }

    /// A member's agent connection.
    pub fn set_member_conn(&self, group_member_id: i64, conn_id: u64) -> Result<()> {
        self.db.execute(
            "UPDATE group_members SET conn_id = ?2 WHERE group_member_id = ?1",
            params![group_member_id, conn_id as i64],
        )?;
        Ok(())
    }

    /// Shows or hides (blocks, for us only) a member's messages.
    pub fn set_show_messages(&self, group_member_id: i64, show: bool) -> Result<()> {
        self.db.execute(
            "UPDATE group_members SET show_messages = ?2 WHERE group_member_id = ?1",
            params![group_member_id, show],
        )?;
        Ok(())
    }

    /// A member's new role.
    pub fn set_member_role(&self, group_member_id: i64, role: GroupMemberRole) -> Result<()> {
        self.db.execute(
            "UPDATE group_members SET role = ?2 WHERE group_member_id = ?1",
            params![group_member_id, role.name()],
        )?;
        Ok(())
    }

    /// A group's link: its connection, the link (full and, when its relay keeps link data,
    /// short; as shown) and the role joiners get.
    pub fn add_group_link(
        &self,
        group_id: i64,
        conn_id: u64,
        link: &crate::chat::ConnLink,
        link_id: &[u8],
        role: GroupMemberRole,
    ) -> Result<()> {
        self.db.execute(
            "INSERT INTO group_links (group_id, conn_id, link, short_link, link_id, role, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                group_id,
                conn_id as i64,
                link.full,
                link.short,
                link_id,
                role.name(),
                now_ms()
            ],
        )?;
        Ok(())
    }

    /// A group link's short link, added to a link made without one.
    pub fn set_group_short_link(&self, group_id: i64, short: &str) -> Result<()> {
        self.db.execute(
            "UPDATE group_links SET short_link = ?2 WHERE group_id = ?1",
            params![group_id, short],
        )?;
        Ok(())
    }

    /// A group link's short link, when it has one.
    pub fn group_short_link(&self, group_id: i64) -> Result<Option<String>> {
        Ok(self
            .db
            .query_row(
                "SELECT short_link FROM group_links WHERE group_id = ?1",
                [group_id],
                |r| r.get::<_, Option<String>>(0),
            )
            .optional()?
            .flatten())
    }

    /// The role a group's link gives joiners; false without a link.
    pub fn set_group_link_role(&self, group_id: i64, role: GroupMemberRole) -> Result<bool> {
        Ok(self.db.execute(
            "UPDATE group_links SET role = ?2 WHERE group_id = ?1",
            params![group_id, role.name()],
        )? > 0)
    }

    /// A group's link: (connection, link, role).
    pub fn group_link(&self, group_id: i64) -> Result<Option<(u64, String, GroupMemberRole)>> {
        let row = self
            .db
            .query_row(
                "SELECT conn_id, link, role FROM group_links WHERE group_id = ?1",
                [group_id],
                |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                    ))
                },
            )
            .optional()?;
        row.map(|(c, l, r)| Ok((c as u64, l, role_from(&r)?)))
            .transpose()
    }

    /// A group link's id (`groupLinkId`).
    pub fn group_link_id(&self, group_id: i64) -> Result<Option<Vec<u8>>> {
        Ok(self
            .db
            .query_row(
                "SELECT link_id FROM group_links WHERE group_id = ?1",
                [group_id],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// The group whose link is on this connection, and the role joiners get.
    pub fn group_link_by_conn(&self, conn_id: u64) -> Result<Option<(i64, GroupMemberRole)>> {
        let row = self
            .db
            .query_row(
                "SELECT group_id, role FROM group_links WHERE conn_id = ?1",
                [conn_id as i64],
                |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)),
            )
            .optional()?;
        row.map(|(g, r)| Ok((g, role_from(&r)?))).transpose()
    }

    /// A group's link is gone.
    pub fn delete_group_link(&self, group_id: i64) -> Result<()> {
        self.db
            .execute("DELETE FROM group_links WHERE group_id = ?1", [group_id])?;
        Ok(())
    }

    /// Records the agent's request a member joined through (the group link).
    pub fn set_join_request(&self, group_member_id: i64, request: u64) -> Result<()> {
        self.db.execute(
            "UPDATE group_members SET join_request = ?2 WHERE group_member_id = ?1",
            params![group_member_id, request as i64],
        )?;
        Ok(())
    }

    /// Records the shared id a joining member gave the welcome message it has (from the
    /// link's data).
    pub fn set_member_welcome(
        &self,
        group_member_id: i64,
        id: &crate::protocol::SharedMsgId,
    ) -> Result<()> {
        self.db.execute(
            "UPDATE group_members SET welcome_msg_id = ?2 WHERE group_member_id = ?1",
            params![group_member_id, id.0],
        )?;
        Ok(())
    }

    /// The shared id a joining member gave the welcome message it has, if it gave one.
    pub fn member_welcome(
        &self,
        group_member_id: i64,
    ) -> Result<Option<crate::protocol::SharedMsgId>> {
        let id: Option<Option<Vec<u8>>> = self
            .db
            .query_row(
                "SELECT welcome_msg_id FROM group_members WHERE group_member_id = ?1",
                [group_member_id],
                |r| r.get(0),
            )
            .optional()?;
        Ok(id.flatten().map(crate::protocol::B64))
    }

    /// A prepared group's stand-in for its host (the welcome message's author) becomes the
    /// host that admitted us: its member id, role, profile and connection from the invitation.
    pub fn adopt_host_stand_in(&self, stand_in: &Member, m: &NewMember<'_>) -> Result<Member> {
        self.db.execute(
            "UPDATE group_members SET member_id = ?2 WHERE group_member_id = ?1",
            params![stand_in.group_member_id, m.member_id.0],
        )?;
        let host = self.adopt_unknown_member(stand_in, m)?;
        Ok(Member {
            member_id: m.member_id.clone(),
            ..host
        })
    }

    /// A prepared group's stand-in for its host, if it has one (known by nothing but the
    /// welcome message).
    pub fn host_stand_in(&self, group_id: i64) -> Result<Option<Member>> {
        self.member_where(
            "group_id = ?1 AND category = 'host' AND status = 'unknown' AND conn_id IS NULL",
            &[&group_id],
        )
    }

    /// The member who joined through this request.
    pub fn member_by_join_request(&self, request: u64) -> Result<Option<Member>> {
        self.member_where("join_request = ?1", &[&(request as i64)])
    }

    /// Customers of our business chats accepted and not connected yet.
    pub fn pending_business_customers(&self) -> Result<i64> {
        Ok(self.db.query_row(
            "SELECT count(*) FROM group_members m JOIN groups g ON g.group_id = m.group_id
             WHERE g.business IS NOT NULL AND m.join_request IS NOT NULL
               AND m.status = 'accepted'",
            [],
            |r| r.get(0),
        )?)
    }

    /// The member joined through our group link.
    pub fn joined_via_link(&self, group_member_id: i64) -> Result<bool> {
        Ok(self.db.query_row(
            "SELECT join_request IS NOT NULL FROM group_members WHERE group_member_id = ?1",
            [group_member_id],
            |r| r.get(0),
        )?)
    }

    /// A member's new profile (the host's, after `x.grp.link.mem`): a member who is no
    /// contact goes by the new name (made unique).
    pub fn set_member_profile(&self, m: &Member, profile: &Profile) -> Result<Member> {
        let name = if m.contact_id.is_none() && profile.display_name != m.profile.display_name {
            self.unique_name(&profile.display_name)?
        } else {
            m.local_name.clone()
        };
        self.db.execute(
            "UPDATE group_members SET profile = ?2, local_name = ?3 WHERE group_member_id = ?1",
            params![m.group_member_id, profile_json(profile)?, name],
        )?;
        Ok(Member {
            profile: profile.clone(),
            local_name: name,
            ..m.clone()
        })
    }

    /// The group's new profile (its local name stays).
    pub fn set_group_profile(&self, group_id: i64, profile: &GroupProfile) -> Result<()> {
        let json =
            serde_json::to_string(profile).map_err(|_| StoreError::Corrupt("group profile"))?;
        self.db.execute(
            "UPDATE groups SET profile = ?2 WHERE group_id = ?1",
            params![group_id, json],
        )?;
        Ok(())
    }

    /// A group renamed: it goes by `display_name` (made unique); the new local name.
    pub fn rename_group(&self, group_id: i64, current: &str, display_name: &str) -> Result<String> {
        if current == display_name {
            return Ok(current.to_string());
        }
        let name = self.unique_name(display_name)?;
        self.db.execute(
            "UPDATE groups SET local_name = ?2 WHERE group_id = ?1",
            params![group_id, name],
        )?;
        Ok(name)
    }

    /// Groups a contact invited us to that we have not joined (nor deleted).
    pub fn pending_invitations_from(&self, contact_id: i64) -> Result<i64> {
        Ok(self.db.query_row(
            "SELECT count(*) FROM groups g JOIN group_members m ON m.group_id = g.group_id
             WHERE g.status = 'invited' AND m.category = 'host' AND m.contact_id = ?1",
            [contact_id],
            |r| r.get(0),
        )?)
    }

    /// Members of a group accepted through its link and not connected yet.
    pub fn pending_link_joiners(&self, group_id: i64) -> Result<i64> {
        Ok(self.db.query_row(
            "SELECT count(*) FROM group_members
             WHERE group_id = ?1 AND join_request IS NOT NULL AND status = 'accepted'",
            [group_id],
            |r| r.get(0),
        )?)
    }

    /// A new member is being introduced, with the history up to item `upto` (none: done).
    pub fn set_introducing(&self, group_member_id: i64, upto: Option<i64>) -> Result<()> {
        self.db.execute(
            "UPDATE group_members SET introducing = ?2 WHERE group_member_id = ?1",
            params![group_member_id, upto],
        )?;
        Ok(())
    }

    /// Members whose introduction a restart interrupted: (member, the history's last item).
    pub fn unfinished_introductions(&self) -> Result<Vec<(i64, i64)>> {
        let mut st = self.db.prepare(
            "SELECT group_member_id, introducing FROM group_members
             WHERE introducing IS NOT NULL ORDER BY group_member_id",
        )?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// A member blocked (or unblocked) for all.
    pub fn set_blocked_by_admin(&self, group_member_id: i64, blocked: bool) -> Result<()> {
        self.db.execute(
            "UPDATE group_members SET blocked_by_admin = ?2 WHERE group_member_id = ?1",
            params![group_member_id, blocked],
        )?;
        Ok(())
    }

    /// Our new role in a group.
    pub fn set_group_role(&self, group_id: i64, role: GroupMemberRole) -> Result<()> {
        self.db.execute(
            "UPDATE groups SET role = ?2 WHERE group_id = ?1",
            params![group_id, role.name()],
        )?;
        Ok(())
    }

    /// A member gone (left, removed): its new status, its connection recorded for deletion
    /// (once message `after` is sent on it, if given) and no longer the member's - in one
    /// transaction, so a restart finishes the deletion.
    pub fn member_gone(
        &mut self,
        m: &Member,
        status: MemberStatus,
        after_msg_id: Option<i64>,
    ) -> Result<()> {
        let tx = self.db.transaction()?;
        if let Some(conn) = m.conn_id {
            tx.execute(
                "INSERT OR REPLACE INTO conn_deletions (conn_id, after_msg_id) VALUES (?1, ?2)",
                params![conn as i64, after_msg_id],
            )?;
        }
        tx.execute(
            "UPDATE group_members SET status = ?2, conn_id = NULL WHERE group_member_id = ?1",
            params![m.group_member_id, status.as_str()],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Our membership ended (left, removed, the group deleted): our status, every member's
    /// connection recorded for deletion (after the message sent on it, if any).
    pub fn membership_ended(
        &mut self,
        group_id: i64,
        status: MemberStatus,
        conns: &[(u64, Option<i64>)],
    ) -> Result<()> {
        let tx = self.db.transaction()?;
        for (conn, after) in conns {
            tx.execute(
                "INSERT OR REPLACE INTO conn_deletions (conn_id, after_msg_id) VALUES (?1, ?2)",
                params![*conn as i64, after],
            )?;
        }
        tx.execute(
            "UPDATE group_members SET conn_id = NULL WHERE group_id = ?1",
            [group_id],
        )?;
        tx.execute(
            "UPDATE groups SET status = ?2, conn_request = NULL WHERE group_id = ?1",
            params![group_id, status.as_str()],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Deletes a group here: its items, members and introductions; the members' remaining
    /// connections recorded for deletion (after the message sent on each, if any).
    pub fn delete_group(&mut self, group_id: i64, conns: &[(u64, Option<i64>)]) -> Result<()> {
        let tx = self.db.transaction()?;
        for (conn, after) in conns {
            tx.execute(
                "INSERT OR REPLACE INTO conn_deletions (conn_id, after_msg_id) VALUES (?1, ?2)",
                params![*conn as i64, after],
            )?;
        }
        tx.execute("DELETE FROM chat_items WHERE group_id = ?1", [group_id])?;
        tx.execute(
            "DELETE FROM group_intros WHERE re_member IN
               (SELECT group_member_id FROM group_members WHERE group_id = ?1)",
            [group_id],
        )?;
        tx.execute("DELETE FROM group_members WHERE group_id = ?1", [group_id])?;
        tx.execute("DELETE FROM groups WHERE group_id = ?1", [group_id])?;
        tx.commit()?;
        Ok(())
    }

    /// How many current members a group has besides us and its relays (counted by the
    /// database: a channel's owner asks at every change of its subscribers).
    pub fn current_non_relays(&self, group_id: i64) -> Result<usize> {
        self.count_current(group_id, Some(GroupMemberRole::Relay))
    }

    /// How many are in a group now: us and the members still in it.
    pub fn current_members(&self, group: &Group) -> Result<usize> {
        // Counted by the database (asked per received message for receipts, per group in the
        // API).
        let us = usize::from(group.status.is_current());
        Ok(us + self.count_current(group.group_id, None)?)
    }

    /// The members of a group (not us) whose status `MemberStatus::is_current` keeps, but
    /// those of role `but`.
    fn count_current(&self, group_id: i64, but: Option<GroupMemberRole>) -> Result<usize> {
        let gone = MemberStatus::NOT_CURRENT;
        let n: i64 = self.db.query_row(
            "SELECT count(*) FROM group_members
             WHERE group_id = ?1 AND status NOT IN (?2, ?3, ?4, ?5, ?6)
               AND (?7 IS NULL OR role != ?7)",
            params![
                group_id,
                gone[0].as_str(),
                gone[1].as_str(),
                gone[2].as_str(),
                gone[3].as_str(),
                gone[4].as_str(),
                but.map(GroupMemberRole::name)
            ],
            |r| r.get(0),
        )?;
        Ok(usize::try_from(n).unwrap_or(0))
    }

    /// Records that the host introduced `re_member` to the new member `to_member`.
    pub fn add_intro(&self, re_member: i64, to_member: i64) -> Result<()> {
        self.db.execute(
            "INSERT INTO group_intros (re_member, to_member, status) VALUES (?1, ?2, 'new')
             ON CONFLICT DO NOTHING",
            params![re_member, to_member],
        )?;
        Ok(())
    }

    /// The introduction was sent to the new member (`new` becomes `intro`; a later status
    /// stays).
    pub fn intro_sent(&self, re_member: i64, to_member: i64) -> Result<()> {
        self.db.execute(
            "UPDATE group_intros SET status = 'intro'
             WHERE re_member = ?1 AND to_member = ?2 AND status = 'new'",
            params![re_member, to_member],
        )?;
        Ok(())
    }

    /// An introduction's new status (`inv-forwarded`, `re-con`, `to-con`, `con`).
    pub fn set_intro_status(&self, re_member: i64, to_member: i64, status: &str) -> Result<bool> {
        Ok(self.db.execute(
            "UPDATE group_intros SET status = ?3 WHERE re_member = ?1 AND to_member = ?2",
            params![re_member, to_member, status],
        )? > 0)
    }

    /// An introduction's status, if it was made.
    pub fn intro_status(&self, re_member: i64, to_member: i64) -> Result<Option<String>> {
        Ok(self
            .db
            .query_row(
                "SELECT status FROM group_intros WHERE re_member = ?1 AND to_member = ?2",
                params![re_member, to_member],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Stores a group item: sent by us (`member` none) or received from a member (directly,
    /// or forwarded by the member `forwarded_by`).
    pub fn add_group_item(
        &self,
        group_id: i64,
        member: Option<i64>,
        shared_msg_id: Option<&[u8]>,
        content: &MsgContent,
        quote: Option<&ItemQuote>,
        forwarded_by: Option<i64>,
    ) -> Result<ChatItem> {
        self.insert_group_item(
            group_id,
            member,
            member.is_none(),
            shared_msg_id,
            content,
            quote,
            forwarded_by,
        )
    }

    /// A post a channel's owner made as the channel itself (no author), received (through
    /// the relay `forwarded_by`, or by the relay from the owner).
    pub fn add_channel_post(
        &self,
        group_id: i64,
        shared_msg_id: Option<&[u8]>,
        content: &MsgContent,
        quote: Option<&ItemQuote>,
        forwarded_by: Option<i64>,
    ) -> Result<ChatItem> {
        self.insert_group_item(
            group_id,
            None,
            false,
            shared_msg_id,
            content,
            quote,
            forwarded_by,
        )
    }

    /// Records our group item as sent as the channel itself (its edits go as the channel's).
    pub fn set_sent_as_channel(&self, item_id: i64) -> Result<()> {
        self.db.execute(
            "UPDATE chat_items SET as_group = 1 WHERE item_id = ?1 AND sent = 1",
            [item_id],
        )?;
        Ok(())
    }

    /// Whether our group item was sent as the channel itself.
    pub fn sent_as_channel(&self, item_id: i64) -> Result<bool> {
        Ok(self
            .db
            .query_row(
                "SELECT as_group FROM chat_items WHERE item_id = ?1",
                [item_id],
                |r| r.get(0),
            )
            .optional()?
            .unwrap_or(false))
    }

    /// A received post as the channel (no author) by its shared id.
    pub fn channel_post_by_shared(
        &self,
        group_id: i64,
        shared_msg_id: &[u8],
    ) -> Result<Option<ChatItem>> {
        Ok(self
            .items_where(
                "group_id = ?1 AND group_member_id IS NULL AND sent = 0 AND info IS NULL
                 AND shared_msg_id = ?2 LIMIT 1",
                &[&group_id, &shared_msg_id],
            )?
            .pop())
    }

    /// Whether a post as the channel with this shared id is stored already (it comes through
    /// every relay).
    pub fn has_channel_post(&self, group_id: i64, shared_msg_id: &[u8]) -> Result<bool> {
        Ok(self.db.query_row(
            "SELECT EXISTS (SELECT 1 FROM chat_items WHERE group_id = ?1
               AND group_member_id IS NULL AND sent = 0 AND info IS NULL AND shared_msg_id = ?2)",
            params![group_id, shared_msg_id],
            |r| r.get(0),
        )?)
    }

    #[allow(clippy::too_many_arguments)]
    fn insert_group_item(
        &self,
        group_id: i64,
        member: Option<i64>,
        sent: bool,
        shared_msg_id: Option<&[u8]>,
        content: &MsgContent,
        quote: Option<&ItemQuote>,
        forwarded_by: Option<i64>,
    ) -> Result<ChatItem> {
        let json = serde_json::to_string(content).map_err(|_| StoreError::Corrupt("content"))?;
        let quote_json = quote
            .map(serde_json::to_string)
            .transpose()
            .map_err(|_| StoreError::Corrupt("quote"))?;
        let ts = now_ms();
        self.db.execute(
            "INSERT INTO chat_items
               (group_id, group_member_id, sent, shared_msg_id, content, item_ts, quote,
                forwarded_by, unread)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                group_id,
                member,
                sent,
                shared_msg_id,
                json,
                ts,
                quote_json,
                forwarded_by,
                !sent
            ],
        )?;
        Ok(ChatItem {
            item_id: self.db.last_insert_rowid(),
            contact_id: 0,
            sent,
            shared_msg_id: shared_msg_id.map(<[u8]>::to_vec),
            content: content.clone(),
            item_ts: ts,
            quote: quote.cloned(),
            edited: false,
            deleted: false,
            file_id: None,
            timed: None,
            unread: !sent,
            receipt: None,
            group_id: Some(group_id),
            group_member_id: member,
            forwarded_by,
            info: None,
            forward: None,
            scope: None,
            live: None,
            deleted_by: None,
            user_mention: false,
            snd_error: None,
            msg_signed: None,
        })
    }

    /// Stores a group's informational items, in order: ours (`member` none) or said by a
    /// member.
    pub fn add_group_info_items(
        &mut self,
        group_id: i64,
        member: Option<i64>,
        items: &[crate::features::InfoItem],
    ) -> Result<Vec<ChatItem>> {
        self.add_group_info_items_in(group_id, member, None, items)
    }

    /// As [`ChatStore::add_group_info_items`], in a support chat when `scope` names one.
    pub fn add_group_info_items_in(
        &mut self,
        group_id: i64,
        member: Option<i64>,
        scope: Option<crate::store::ItemScope>,
        items: &[crate::features::InfoItem],
    ) -> Result<Vec<ChatItem>> {
        self.add_info_items_to(
            crate::store::InfoChat::Group {
                group_id,
                member,
                scope,
            },
            items,
        )
    }

    /// A removed member's messages marked deleted (`/_remove ... messages=on`); how many.
    pub fn mark_member_items_deleted(&mut self, group_id: i64, member: i64) -> Result<Vec<i64>> {
        let tx = self.db.transaction()?;
        let ids: Vec<i64> = {
            let mut st = tx.prepare(
                "SELECT item_id FROM chat_items
                 WHERE group_id = ?1 AND group_member_id = ?2 AND info IS NULL AND deleted = 0",
            )?;
            let rows = st.query_map(params![group_id, member], |r| r.get(0))?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        tx.execute(
            "UPDATE chat_items SET deleted = 1
             WHERE group_id = ?1 AND group_member_id = ?2 AND info IS NULL AND deleted = 0",
            params![group_id, member],
        )?;
        tx.commit()?;
        Ok(ids)
    }

    /// The members a host forwards `member`'s messages to: those introduced to each other
    /// whose connection neither side has reported yet (`x.grp.mem.con`).
    pub fn forward_targets(&self, member: i64) -> Result<Vec<Member>> {
        let mut st = self.db.prepare(
            "SELECT re_member FROM group_intros
               WHERE to_member = ?1 AND status NOT IN ('re-con', 'to-con', 'con')
             UNION
             SELECT to_member FROM group_intros
               WHERE re_member = ?1 AND status NOT IN ('re-con', 'to-con', 'con')",
        )?;
        let ids: Vec<i64> = st
            .query_map([member], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(m) = self.member(id)? {
                if m.status == MemberStatus::Connected && m.conn_id.is_some() {
                    out.push(m);
                }
            }
        }
        Ok(out)
    }

    /// The last `n` items of a group, oldest first.
    pub fn group_items(&self, group_id: i64, n: usize) -> Result<Vec<ChatItem>> {
        self.group_items_upto(group_id, n, i64::MAX)
    }

    /// The last `n` items of a group up to item `last` (included), oldest first.
    pub fn group_items_upto(&self, group_id: i64, n: usize, last: i64) -> Result<Vec<ChatItem>> {
        let mut v = self.items_where(
            "group_id = ?1 AND item_id <= ?3 AND scope IS NULL ORDER BY item_id DESC LIMIT ?2",
            &[&group_id, &(n as i64), &last],
        )?;
        v.reverse();
        Ok(v)
    }

    /// The last `n` messages of a group up to item `last` (included), oldest first: its items
    /// without the informational ones (for the history sent to new members).
    pub fn group_messages_upto(&self, group_id: i64, n: usize, last: i64) -> Result<Vec<ChatItem>> {
        let mut v = self.items_where(
            "group_id = ?1 AND item_id <= ?3 AND scope IS NULL AND info IS NULL
             ORDER BY item_id DESC LIMIT ?2",
            &[&group_id, &(n as i64), &last],
        )?;
        v.reverse();
        Ok(v)
    }

    /// The latest item of a group not deleted, ours (`author` none) or a member's, that starts
    /// with `prefix` (any, without one).
    pub fn latest_group_item(
        &self,
        group_id: i64,
        author: Option<i64>,
        prefix: Option<&str>,
    ) -> Result<Option<ChatItem>> {
        let recent = match author {
            None => self.items_where(
                "group_id = ?1 AND sent = 1 AND deleted = 0 AND scope IS NULL AND info IS NULL
                 ORDER BY item_id DESC LIMIT 1000",
                &[&group_id],
            )?,
            Some(m) => self.items_where(
                "group_id = ?1 AND group_member_id = ?2 AND sent = 0 AND deleted = 0
                 AND scope IS NULL AND info IS NULL ORDER BY item_id DESC LIMIT 1000",
                &[&group_id, &m],
            )?,
        };
        Ok(recent
            .into_iter()
            .find(|i| prefix.is_none_or(|p| i.content.text_shown().starts_with(p))))
    }

    /// A group's item by id.
    pub fn group_item(&self, group_id: i64, item_id: i64) -> Result<Option<ChatItem>> {
        Ok(self
            .items_where("group_id = ?1 AND item_id = ?2", &[&group_id, &item_id])?
            .pop())
    }

    /// The latest group item not deleted that starts with `prefix`, whoever wrote it.
    pub fn latest_group_item_any(&self, group_id: i64, prefix: &str) -> Result<Option<ChatItem>> {
        let recent = self.items_where(
            "group_id = ?1 AND deleted = 0 AND info IS NULL ORDER BY item_id DESC LIMIT 1000",
            &[&group_id],
        )?;
        Ok(recent
            .into_iter()
            .find(|i| i.content.text_shown().starts_with(prefix)))
    }

    /// A group item by its shared id: ours (`author` none) or a member's.
    pub fn group_item_by_shared(
        &self,
        group_id: i64,
        author: Option<i64>,
        shared_msg_id: &[u8],
    ) -> Result<Option<ChatItem>> {
        Ok(match author {
            None => self.items_where(
                "group_id = ?1 AND sent = 1 AND shared_msg_id = ?2 LIMIT 1",
                &[&group_id, &shared_msg_id],
            )?,
            Some(m) => self.items_where(
                "group_id = ?1 AND group_member_id = ?2 AND sent = 0 AND shared_msg_id = ?3 LIMIT 1",
                &[&group_id, &m, &shared_msg_id],
            )?,
        }
        .pop())
    }

    /// The id of a group's latest item (0: none).
    pub fn last_group_item_id(&self, group_id: i64) -> Result<i64> {
        Ok(self.db.query_row(
            "SELECT IFNULL(max(item_id), 0) FROM chat_items WHERE group_id = ?1",
            [group_id],
            |r| r.get(0),
        )?)
    }

    /// Whether a member's message with this shared id is stored already (it may come both
    /// directly and forwarded by the host).
    pub fn has_group_message(
        &self,
        group_id: i64,
        member: i64,
        shared_msg_id: &[u8],
    ) -> Result<bool> {
        Ok(self.db.query_row(
            "SELECT EXISTS (SELECT 1 FROM chat_items
               WHERE group_id = ?1 AND group_member_id = ?2 AND shared_msg_id = ?3)",
            params![group_id, member, shared_msg_id],
            |r| r.get(0),
        )?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::NewItem;

    /// A member of `g` (id bytes `id`, role member), a contact's when `contact`.
    fn member(
        store: &ChatStore,
        g: &Group,
        (id, name): (u8, &str),
        category: MemberCategory,
        status: MemberStatus,
        contact: Option<i64>,
    ) -> Result<Member> {
        store.add_member(&NewMember {
            group_id: g.group_id,
            member_id: &B64(vec![id; 12]),
            role: GroupMemberRole::Member,
            category,
            status,
            profile: &profile(name),
            conn_id: None,
            contact_id: contact,
            invited_by: None,
        })
    }

    /// Group `team` with us in `role`, `status`.
    fn team(store: &ChatStore, role: GroupMemberRole, status: MemberStatus) -> Group {
        store
            .add_group(
                &GroupProfile {
                    display_name: "team".into(),
                    ..GroupProfile::default()
                },
                &B64(vec![1; 12]),
                role,
                status,
                None,
            )
            .expect("group")
    }

    fn profile(name: &str) -> Profile {
        Profile {
            display_name: name.into(),
            full_name: String::new(),
            ..Profile::default()
        }
    }

    /// A database of schema v12 with a contact, an item and its reaction upgrades to v13 with
    /// both kept (the items table is rebuilt with foreign keys off), then takes group items.
    #[test]
    fn v12_database_upgrades_keeping_items_and_reactions() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("t_chat.db");
        {
            let mut db = agent::store::open_connection(&path, None).expect("open");
            agent::store::migrate(&mut db, &crate::store::MIGRATIONS[..12]).expect("v12");
            db.execute_batch(
                "INSERT INTO contacts (contact_id, local_name, profile, conn_id, ready, created_at)
                   VALUES (2, 'bob', '{\"displayName\":\"bob\",\"fullName\":\"\"}', 7, 1, 0);
                 INSERT INTO chat_items (item_id, contact_id, sent, content, item_ts)
                   VALUES (5, 2, 1, '{\"type\":\"text\",\"text\":\"hi\"}', 1);
                 INSERT INTO reactions (item_id, by_us, reaction, created_at)
                   VALUES (5, 0, '{\"type\":\"emoji\",\"emoji\":\"👍\"}', 1);",
            )
            .expect("rows");
        }
        let store = ChatStore::open(&path, None).expect("upgrade");
        let items = store.items(2, 10).expect("items");
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].item_id, 5);
        assert_eq!(items[0].content.text_shown(), "hi");
        assert_eq!(store.reactions(5).expect("reactions").len(), 1);
        // Foreign keys are on again: an item of no contact is refused.
        assert!(store
            .add_item(&NewItem {
                contact_id: 99,
                sent: true,
                shared_msg_id: None,
                agent_msg_id: None,
                content: &MsgContent::text("x"),
                quote: None,
                edited: false,
            })
            .is_err());
        let g = store
            .add_group(
                &GroupProfile {
                    display_name: "bob".into(),
                    ..GroupProfile::default()
                },
                &B64(vec![1; 12]),
                GroupMemberRole::Owner,
                MemberStatus::Creator,
                None,
            )
            .expect("group");
        // One namespace with contacts, as the reference's.
        assert_eq!(g.local_name, "bob_1");
        let item = store
            .add_group_item(
                g.group_id,
                None,
                Some(b"m1"),
                &MsgContent::text("to all"),
                None,
                None,
            )
            .expect("group item");
        assert_eq!(item.group_id, Some(g.group_id));
        assert_eq!(
            store.group_items(g.group_id, 10).expect("items"),
            vec![item]
        );
        // Group items stay out of the contacts' chats.
        assert_eq!(store.chat_heads().expect("heads").len(), 1);
        assert_eq!(store.items(2, 10).expect("items").len(), 1);
    }

    #[test]
    fn members_by_contact_name_or_a_unique_one() {
        let dir = tempfile::tempdir().expect("tmp");
        let mut store = ChatStore::open(&dir.path().join("t_chat.db"), None).expect("open");
        let bob = store.add_contact(7, &profile("bob")).expect("contact");
        let g = team(&store, GroupMemberRole::Owner, MemberStatus::Creator);
        let add = |id: u8, contact: Option<i64>, name: &str| {
            let (post, announced) = (MemberCategory::Post, MemberStatus::Announced);
            member(&store, &g, (id, name), post, announced, contact).expect("member")
        };
        assert_eq!(add(2, Some(bob.contact_id), "bob").local_name, "bob");
        assert_eq!(add(3, None, "bob").local_name, "bob_1");
        assert_eq!(add(4, None, "cath").local_name, "cath");
        // The same member id twice in a group is refused.
        let (post, announced) = (MemberCategory::Post, MemberStatus::Announced);
        assert!(member(&store, &g, (4, "dan"), post, announced, None).is_err());
        // A contact named as a member who is no contact gets the next name.
        assert_eq!(
            store
                .add_contact(8, &profile("cath"))
                .expect("c")
                .local_name,
            "cath_1"
        );
        assert_eq!(store.current_members(&g).expect("n"), 4);
    }

    /// Messages kept for a member still joining: in order, at most [`MAX_PENDING_MESSAGES`],
    /// none once it is connected, dropped when it is gone.
    /// Edits keep the item's versions, newest first, the original at the item's time: an edit
    /// to the same content adds none, and past the limit the item still changes while its
    /// history does not grow.
    #[test]
    fn edits_keep_versions_up_to_the_limit() {
        let dir = tempfile::tempdir().expect("tmp");
        let mut store = ChatStore::open(&dir.path().join("t_chat.db"), None).expect("open");
        let g = team(&store, GroupMemberRole::Owner, MemberStatus::Creator);
        let text = |s: &str| MsgContent::text(s);
        let item = store
            .add_group_item(g.group_id, None, Some(b"m1"), &text("v0"), None, None)
            .expect("item");
        assert!(store.item_versions(item.item_id).expect("none").is_empty());
        store.update_item(item.item_id, &text("v0")).expect("same");
        assert!(store.item_versions(item.item_id).expect("none").is_empty());
        store.update_item(item.item_id, &text("v1")).expect("edit");
        let v = store.item_versions(item.item_id).expect("versions");
        assert_eq!(v, vec![(v[0].0, text("v1")), (item.item_ts, text("v0"))]);
        for n in 2..=150 {
            store
                .update_item(item.item_id, &text(&format!("v{n}")))
                .expect("edit");
        }
        let v = store.item_versions(item.item_id).expect("versions");
        assert_eq!(v.len() as i64, crate::store::MAX_ITEM_VERSIONS);
        assert_eq!(v[0].1, text("v99"));
        assert_eq!(v[99].1, text("v0"));
        let now = store.group_item(g.group_id, item.item_id).expect("read");
        let now = now.expect("item");
        assert_eq!(now.content, text("v150"));
        // Marked deleted, its text stays and so do its versions; deleted in full, they go.
        store.moderate_item(&now, 0, false).expect("marked");
        assert_eq!(store.item_versions(item.item_id).expect("kept").len(), 100);
        store.moderate_item(&now, 0, true).expect("deleted");
        assert!(store.item_versions(item.item_id).expect("gone").is_empty());
        store.update_item(item.item_id, &text("v1")).expect("edit");
        // Versions go with their item.
        store.delete_group(g.group_id, &[]).expect("deleted");
        assert!(store.item_versions(item.item_id).expect("none").is_empty());
    }

    #[test]
    fn messages_kept_for_a_member_still_joining() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = ChatStore::open(&dir.path().join("t_chat.db"), None).expect("open");
        let g = team(&store, GroupMemberRole::Owner, MemberStatus::Creator);
        let add = |id: u8, name: &str| {
            let (invitee, invited) = (MemberCategory::Invitee, MemberStatus::Invited);
            member(&store, &g, (id, name), invitee, invited, None)
                .expect("member")
                .group_member_id
        };
        let (bob, cath) = (add(2, "bob"), add(3, "cath"));
        assert!(store.add_pending_message(bob, b"one").expect("kept"));
        store
            .set_member_status(bob, MemberStatus::Accepted)
            .expect("accepted");
        assert!(store.add_pending_message(bob, b"two").expect("kept"));
        let kept = store.pending_messages(bob).expect("kept");
        let bodies: Vec<&[u8]> = kept.iter().map(|(_, b)| b.as_slice()).collect();
        assert_eq!(bodies, [b"one".as_slice(), b"two"]);
        store.delete_pending_message(kept[0].0).expect("sent");
        assert_eq!(store.pending_messages(bob).expect("left").len(), 1);
        store
            .set_member_status(bob, MemberStatus::Connected)
            .expect("connected");
        assert!(!store.add_pending_message(bob, b"three").expect("not kept"));
        assert_eq!(store.pending_messages(bob).expect("left").len(), 1);

        for i in 0..MAX_PENDING_MESSAGES {
            assert!(store
                .add_pending_message(cath, &i.to_be_bytes())
                .expect("kept"));
        }
        assert!(!store.add_pending_message(cath, b"more").expect("full"));
        store
            .set_member_status(cath, MemberStatus::Removed)
            .expect("removed");
        assert!(store.pending_messages(cath).expect("none").is_empty());
    }

    /// An unknown member (the author of a forwarded message) announced later becomes the
    /// announced member: the same record, its profile, role, status and inviter, named anew.
    #[test]
    fn an_unknown_member_is_adopted_when_announced() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = ChatStore::open(&dir.path().join("t_chat.db"), None).expect("open");
        let g = team(&store, GroupMemberRole::Member, MemberStatus::Connected);
        let id = B64(vec![7; 12]);
        let unknown = store
            .add_member(&NewMember {
                group_id: g.group_id,
                member_id: &id,
                role: GroupMemberRole::Author,
                category: MemberCategory::Pre,
                status: MemberStatus::Unknown,
                profile: &profile("dan"),
                conn_id: None,
                contact_id: None,
                invited_by: None,
            })
            .expect("unknown");
        let read = store
            .member_by_member_id(g.group_id, &id)
            .expect("read")
            .expect("there");
        assert_eq!(read.status, MemberStatus::Unknown);
        let mut full = profile("daniel");
        full.full_name = "Daniel".into();
        let adopted = store
            .adopt_unknown_member(
                &unknown,
                &NewMember {
                    group_id: g.group_id,
                    member_id: &id,
                    role: GroupMemberRole::Admin,
                    category: MemberCategory::Post,
                    status: MemberStatus::Announced,
                    profile: &full,
                    conn_id: Some(42),
                    contact_id: None,
                    invited_by: Some(1),
                },
            )
            .expect("adopt");
        let read = store
            .member_by_member_id(g.group_id, &id)
            .expect("read")
            .expect("there");
        assert_eq!(read, adopted);
        assert_eq!(read.group_member_id, unknown.group_member_id);
        assert_eq!(read.status, MemberStatus::Announced);
        assert_eq!(read.role, GroupMemberRole::Admin);
        assert_eq!(read.local_name, "daniel");
        assert_eq!(read.profile.full_name, "Daniel");
        assert_eq!(read.conn_id, Some(42));
        assert_eq!(read.invited_by, Some(1));
    }

    /// The paths of files named alike are found however they were written, and only those.
    #[test]
    fn file_paths_named_match_the_last_part_only() {
        use crate::store::{FileStatus, NewFile};
        let dir = tempfile::tempdir().expect("tmp");
        let store = ChatStore::open(&dir.path().join("t_chat.db"), None).expect("open");
        let add = |path: &str| {
            store
                .add_file(&NewFile {
                    contact_id: crate::store::NOTES,
                    group_id: None,
                    group_member_id: None,
                    sent: true,
                    shared_msg_id: b"x",
                    name: "n",
                    size: 1,
                    path: Some(path),
                    status: FileStatus::Stored,
                })
                .expect("file")
        };
        let a = add("./files/test.jpg");
        let b = add("/abs/files/test.jpg");
        add("/abs/files/my_test.jpg");
        add("test.jpg.part");
        let mut found = store.file_paths_named("test.jpg", a).expect("paths");
        found.sort();
        assert_eq!(found, ["/abs/files/test.jpg"]);
        let found = store.file_paths_named("test.jpg", b).expect("paths");
        assert_eq!(found, ["./files/test.jpg"]);
        assert!(store
            .file_paths_named("nothing.jpg", 0)
            .expect("paths")
            .is_empty());
    }

    /// A channel's anonymous reactions: each counted, a removal takes one away (never ours or
    /// a member's), none past the bound.
    #[test]
    fn anonymous_reactions_count_and_are_bounded() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = ChatStore::open(&dir.path().join("a_chat.db"), None).expect("open");
        store
            .db
            .execute_batch(
                "INSERT INTO contacts (contact_id, local_name, profile, conn_id, ready, created_at)
                   VALUES (2, 'bob', '{\"displayName\":\"bob\",\"fullName\":\"\"}', 7, 1, 0);
                 INSERT INTO chat_items (item_id, contact_id, sent, content, item_ts)
                   VALUES (5, 2, 1, '{\"type\":\"text\",\"text\":\"hi\"}', 1);",
            )
            .expect("rows");
        let thumbs = r#"{"type":"emoji","emoji":"👍"}"#;
        assert!(store
            .set_member_reaction(5, true, 0, thumbs, true)
            .expect("ours"));
        for _ in 0..3 {
            assert!(store.set_anonymous_reaction(5, thumbs, true).expect("add"));
        }
        assert_eq!(
            store.reactions(5).expect("reactions"),
            [(thumbs.to_string(), 4, true)]
        );
        for _ in 0..3 {
            assert!(store
                .set_anonymous_reaction(5, thumbs, false)
                .expect("remove"));
        }
        // Ours stays: a removal without an anonymous one left changes nothing.
        assert!(!store
            .set_anonymous_reaction(5, thumbs, false)
            .expect("remove"));
        assert_eq!(
            store.reactions(5).expect("reactions"),
            [(thumbs.to_string(), 1, true)]
        );
        store
            .db
            .execute(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?2)
                 INSERT INTO reactions (item_id, by_us, by_member, reaction, created_at)
                 SELECT 5, 0, -i, ?1, 0 FROM n",
                rusqlite::params![thumbs, crate::store::MAX_ANONYMOUS_REACTIONS],
            )
            .expect("as many as the bound");
        assert!(!store
            .set_anonymous_reaction(5, thumbs, true)
            .expect("past the bound"));
    }
}
