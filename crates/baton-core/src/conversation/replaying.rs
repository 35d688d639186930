//! What replay ([`crate::replay`]) asks of a conversation while it folds a journal: leave model
//! requests empty, follow what the journal shows each call's arguments came to, and fill in the
//! one request still to make.

use super::{Conversation, Journaled};
use crate::event::{ModelRequest, Purpose};
use std::collections::BTreeMap;

impl Conversation {
    /// Starts or stops leaving model requests empty (see [`crate::replay`]).
    pub(crate) fn set_replaying(&mut self, replaying: bool) {
        self.replaying = replaying;
    }

    /// Makes the arguments check of the next model reply's calls take what the journal shows
    /// instead of checking again: a call it shows sent for approval or run is let through, one it
    /// shows rejected is rejected with the journaled error. So a journal replays as it was
    /// written whichever validator wrote it, one written before arguments were checked included
    /// (as the `Signals` journaled with a message keep replay off the detector's version). A call
    /// the journal does not show yet is checked.
    pub(crate) fn follow_journal(&mut self, calls: BTreeMap<String, Journaled>) {
        self.journaled = calls;
    }

    /// Fills in `request`, the unanswered call replay left empty, with what its agent is sent:
    /// nothing has changed since the call was made, since only its reply moves the turn on.
    pub(crate) fn complete_request(&self, request: &mut ModelRequest) {
        if request.purpose != Purpose::Act {
            return;
        }
        let agent = self.team.agent(&request.agent).expect("a model call's agent is a team member");
        let view = self.view_of(agent);
        request.system = view.system;
        request.messages = view.messages;
        request.tools = view.tools;
        request.facts = view.facts;
    }
}
