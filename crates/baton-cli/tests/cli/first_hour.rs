//! Bugs a new user met in the first hour, end to end (being written).
