//! The lookup tool: answers from a JSON object keyed by one string argument.

use crate::Tool;
use async_trait::async_trait;
use baton_core::{ToolDef, ToolOutput};
use serde_json::{json, Map, Value};
use std::path::Path;

/// Answers `{key: "42"}` with the entry `"42"` of a JSON object loaded from a file.
pub struct LookupTool {
    definition: ToolDef,
    key: String,
    data: Map<String, Value>,
}

/// Why a lookup tool could not be built.
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    /// The data file could not be read.
    #[error("cannot read the data file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The data file is not a JSON object.
    #[error("the data file {path} is not a JSON object keyed by {key}: {detail}")]
    Shape {
        /// The file.
        path: String,
        /// The key argument.
        key: String,
        /// What is wrong.
        detail: String,
    },
}

impl LookupTool {
    /// The definition a lookup tool called `name` with argument `key` offers to models; `pattern`
    /// is the JSON-schema pattern a valid key matches, if there is one.
    pub fn definition_for(name: &str, description: &str, key: &str, pattern: Option<&str>) -> ToolDef {
        let mut property = json!({"type": "string"});
        if let Some(pattern) = pattern {
            property["pattern"] = json!(pattern);
        }
        ToolDef {
            name: name.to_string(),
            description: description.to_string(),
            parameters: json!({
                "type": "object",
                "properties": { key: property },
                "required": [key]
            }),
            examples: Vec::new(),
            idempotent: true,
            approval: Default::default(),
        }
    }

    /// A lookup tool offering `definition` (see [`LookupTool::definition_for`]) over the JSON
    /// object in `data_file`, keyed by the argument `key`.
    pub fn load(definition: ToolDef, key: &str, data_file: &Path) -> Result<Self, LookupError> {
        let path = data_file.display().to_string();
        let text =
            std::fs::read_to_string(data_file).map_err(|source| LookupError::Read { path: path.clone(), source })?;
        let shape = |detail: String| LookupError::Shape { path: path.clone(), key: key.to_string(), detail };
        let data = match serde_json::from_str::<Value>(&text) {
            Ok(Value::Object(data)) => data,
            Ok(_) => return Err(shape("the top level must be an object".into())),
            Err(e) => return Err(shape(e.to_string())),
        };
        Ok(LookupTool { definition, key: key.to_string(), data })
    }
}

#[async_trait]
impl Tool for LookupTool {
    fn definition(&self) -> &ToolDef {
        &self.definition
    }

    async fn call(&self, arguments: &Value, _idempotency_key: &str) -> ToolOutput {
        let wanted = match arguments.get(&self.key) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => return ToolOutput::error(format!("error: the argument \"{}\" (a string) is required", self.key)),
        };
        match self.data.get(&wanted) {
            Some(value) => ToolOutput::ok(value.to_string()),
            None => ToolOutput::error(format!("error: no entry for {} = \"{wanted}\"", self.key)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tool(data: &str) -> Result<LookupTool, LookupError> {
        static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("baton-lookup-{}-{n}.json", std::process::id()));
        std::fs::write(&path, data).unwrap();
        let definition = LookupTool::definition_for("lookup_customer", "Look up a customer.", "customer_id", None);
        LookupTool::load(definition, "customer_id", &path)
    }

    fn call(tool: &LookupTool, arguments: Value) -> ToolOutput {
        tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(tool.call(&arguments, "k"))
    }

    #[test]
    fn answers_the_entry_for_the_key_and_errors_name_what_is_missing() {
        let tool = tool(r#"{"42": {"name": "Ada"}}"#).unwrap();
        assert_eq!(call(&tool, json!({"customer_id": "42"})), ToolOutput::ok(r#"{"name":"Ada"}"#));
        assert_eq!(call(&tool, json!({"customer_id": 42})), ToolOutput::ok(r#"{"name":"Ada"}"#));
        let missing = call(&tool, json!({"customer_id": "7"}));
        assert!(missing.is_error && missing.content.contains("no entry for customer_id = \"7\""));
        let no_key = call(&tool, json!({}));
        assert!(no_key.is_error && no_key.content.contains("\"customer_id\" (a string) is required"));
        assert_eq!(tool.definition().parameters["required"], json!(["customer_id"]));
    }

    #[test]
    fn a_data_file_that_is_not_an_object_is_refused() {
        assert!(matches!(tool("[1, 2, 3]"), Err(LookupError::Shape { .. })));
        assert!(matches!(tool("{not json"), Err(LookupError::Shape { .. })));
    }
}
