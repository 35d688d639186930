//! Wake-ups for event streams: a stream reads a conversation's journal again when this process
//! journals to it, and at least once a second anyway, for what other processes write.

use tokio::sync::broadcast;

/// The conversations journaled to, as they are.
#[derive(Clone)]
pub struct Feed {
    sender: broadcast::Sender<String>,
}

impl Feed {
    /// A feed that keeps up with `capacity` wake-ups per slow listener (a listener that falls
    /// further behind just reads the journal again).
    pub fn new(capacity: usize) -> Feed {
        Feed { sender: broadcast::channel(capacity).0 }
    }

    /// Something was journaled to `conversation`.
    pub fn wake(&self, conversation: &str) {
        if self.sender.receiver_count() > 0 {
            let _ = self.sender.send(conversation.to_string());
        }
    }

    /// Listens for wake-ups.
    pub fn listen(&self) -> broadcast::Receiver<String> {
        self.sender.subscribe()
    }
}
