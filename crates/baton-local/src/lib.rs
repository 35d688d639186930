//! The offline local model and the text signals the core's triggers act on.
