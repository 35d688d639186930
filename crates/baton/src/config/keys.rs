//! Unknown keys: every key of every table is checked against the keys its serde struct declares,
//! so all typos are reported at once, each with "did you mean" and the list of allowed keys.
//!
//! The allowed keys are read from the `Deserialize` impls themselves (see [`keys_of`]), so they
//! cannot drift from the structs in [`super::raw`].

use super::diagnostic::Report;
use super::raw::{
    RawAgent, RawHandoffTable, RawLimits, RawModel, RawPrice, RawRouter, RawStore, RawTeam, RawTelemetry, RawTool,
    RawTrigger,
};
use baton_core::names::{closest, list};
use serde::de::{self, Deserialize, Deserializer, Visitor};
use toml::de::{DeTable, DeValue};

/// Reports every key of the document that its table does not define.
pub(crate) fn check_keys(root: &DeTable<'_>, report: &mut Report<'_>) {
    check_table(root, keys_of::<RawTeam>(), "at the top level of the team file", report);
    for (section, value) in root.iter() {
        if let ("trigger", DeValue::Array(items)) = (section.get_ref().as_ref(), value.get_ref()) {
            for (index, item) in items.iter().enumerate() {
                if let DeValue::Table(trigger) = item.get_ref() {
                    let place = format!("in trigger {}", index + 1);
                    check_table(trigger, keys_of::<RawTrigger>(), &place, report);
                }
            }
        }
        let DeValue::Table(entries) = value.get_ref() else { continue };
        match section.get_ref().as_ref() {
            "limits" => check_table(entries, keys_of::<RawLimits>(), "in [limits]", report),
            "router" => check_table(entries, keys_of::<RawRouter>(), "in [router]", report),
            "store" => check_table(entries, keys_of::<RawStore>(), "in [store]", report),
            "telemetry" => check_table(entries, keys_of::<RawTelemetry>(), "in [telemetry]", report),
            "models" => each_table(entries, |name, table| {
                check_table(table, keys_of::<RawModel>(), &format!("in model '{name}'"), report);
                if let Some(DeValue::Table(price)) = table.get("price").map(|price| price.get_ref()) {
                    check_table(price, keys_of::<RawPrice>(), &format!("in the price of model '{name}'"), report);
                }
            }),
            "agents" => each_table(entries, |name, table| {
                check_table(table, keys_of::<RawAgent>(), &format!("in agent '{name}'"), report);
                let Some(handoffs) = table.get("handoffs") else { return };
                let DeValue::Array(items) = handoffs.get_ref() else { return };
                for item in items {
                    if let DeValue::Table(edge) = item.get_ref() {
                        let place = format!("in a handoff of agent '{name}'");
                        check_table(edge, keys_of::<RawHandoffTable>(), &place, report);
                    }
                }
            }),
            "tools" => each_table(entries, |name, table| {
                check_table(table, keys_of::<RawTool>(), &format!("in tool '{name}'"), report);
            }),
            _ => {}
        }
    }
}

/// Calls `visit` with the name and contents of each entry of `section` that is a table.
fn each_table<'t, 'i>(section: &'t DeTable<'i>, mut visit: impl FnMut(&'t str, &'t DeTable<'i>)) {
    for (name, value) in section.iter() {
        if let DeValue::Table(table) = value.get_ref() {
            visit(name.get_ref().as_ref(), table);
        }
    }
}

/// Reports each key of `table` that is not in `allowed`; `place` says where the table is.
fn check_table(table: &DeTable<'_>, allowed: &[&str], place: &str, report: &mut Report<'_>) {
    for (key, _) in table.iter() {
        let key_name: &str = key.get_ref().as_ref();
        if allowed.contains(&key_name) {
            continue;
        }
        let allowed_list = format!("the allowed keys are {}", list(allowed));
        let help = match closest(key_name, allowed.iter().copied()) {
            Some(suggestion) => format!("did you mean '{suggestion}'? {allowed_list}"),
            None => allowed_list,
        };
        report.error(key.span().start, format!("unknown key '{key_name}' {place}"), help);
    }
}

/// The field names `T`'s derived `Deserialize` impl passes to `deserialize_struct`.
pub(crate) fn keys_of<'de, T: Deserialize<'de>>() -> &'static [&'static str] {
    let mut fields: &'static [&'static str] = &[];
    // The capture always fails after recording the fields: there is nothing to deserialize.
    let _ = T::deserialize(FieldCapture { fields: &mut fields });
    fields
}

/// A deserializer that only records the field list of the struct asked of it.
struct FieldCapture<'a> {
    fields: &'a mut &'static [&'static str],
}

impl<'de> Deserializer<'de> for FieldCapture<'_> {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("only a struct's field names can be captured"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Self::Error> {
        *self.fields = fields;
        Err(de::Error::custom("field names captured"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit
        unit_struct newtype_struct seq tuple tuple_struct map enum identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_allowed_keys_from_the_structs() {
        assert_eq!(keys_of::<RawHandoffTable>(), ["to", "description", "context", "max_uses", "require_reason"]);
        assert!(keys_of::<RawTeam>().contains(&"entry"));
        assert!(keys_of::<RawModel>().contains(&"timeout_secs"));
    }

    #[test]
    fn suggests_keys_for_common_typos() {
        let agent = keys_of::<RawAgent>();
        assert_eq!(closest("modle", agent.iter().copied()), Some("model"));
        assert_eq!(closest("handoff", agent.iter().copied()), Some("handoffs"));
        assert_eq!(closest("timeout", keys_of::<RawModel>().iter().copied()), Some("timeout_secs"));
        assert_eq!(closest("colour", agent.iter().copied()), None);
    }
}
