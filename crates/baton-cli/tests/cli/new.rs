//! `baton new`: every template writes a team that passes `check` and `eval` at once (being written).
