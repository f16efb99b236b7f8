//! The SimpleX chat layer above the agent: the chat protocol's JSON events (what an agent
//! message body carries between two chat clients), their batches, and - growing - contacts,
//! messages and files sent as XFTP descriptions.
//!
//! - [`protocol`]: chat messages (`{"v","msgId","event","params"}`), every event of the
//!   reference's protocol as a type, the element forms a peer may send (JSON objects and arrays,
//!   binary batches, forwarded, signed and compressed elements; [`compress`]: zstd as the
//!   reference uses it);
//! - [`api`]: the WebSocket bot API's JSON for responses, events and errors;
//! - [`batch`]: packing encoded messages into agent messages as the reference does;
//! - [`command`]: the terminal's and the bot API's command syntax;
//! - [`store`]: the chat database (user, contacts, requests, chat items);
//! - [`chat`]: the engine - commands in, responses and events out, over the agent;
//! - [`files`]: files to contacts over XFTP;
//! - [`groups`], [`group_store`]: groups - members, introductions, group messages;
//! - [`users`]: several users in one database prefix, each with its own chat.

pub mod admission;
pub mod api;
pub mod archive;
pub mod batch;
pub mod business;
pub mod calls;
pub mod channels;
pub mod chat;
pub mod command;
pub mod compress;
pub mod db_key;
pub mod disable;
pub mod features;
pub mod files;
pub mod forward;
pub mod group_events;
pub mod group_files;
pub mod group_keys;
pub mod group_links;
pub mod group_msgs;
pub mod group_prefs;
pub mod group_receipts;
pub mod group_store;
pub mod groups;
pub mod incognito;
pub mod item_info;
pub mod live;
pub mod member_contacts;
pub mod mentions;
pub mod messages;
pub mod moves;
pub mod network;
pub mod notes;
pub mod prepared;
pub mod presets;
pub mod protocol;
pub mod servers;
pub mod store;
pub mod tags;
pub mod themes;
pub mod users;

pub use protocol::{ChatEvent, ChatMessage, MsgContainer, MsgContent, ProtocolError};
