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
    /// The definition a lookup tool called `name` with argument `key` offers to models.
    pub fn definition_for(name: &str, description: &str, key: &str) -> ToolDef {
        ToolDef {
            name: name.to_string(),
            description: description.to_string(),
            parameters: json!({
                "type": "object",
                "properties": { key: {"type": "string"} },
                "required": [key]
            }),
        }
    }

    /// A lookup tool over the JSON object in `data_file`.
    pub fn load(name: &str, description: &str, key: &str, data_file: &Path) -> Result<Self, LookupError> {
        let path = data_file.display().to_string();
        let text =
            std::fs::read_to_string(data_file).map_err(|source| LookupError::Read { path: path.clone(), source })?;
        let shape = |detail: String| LookupError::Shape { path: path.clone(), key: key.to_string(), detail };
        let data = match serde_json::from_str::<Value>(&text) {
            Ok(Value::Object(data)) => data,
            Ok(_) => return Err(shape("the top level must be an object".into())),
            Err(e) => return Err(shape(e.to_string())),
        };
        Ok(LookupTool { definition: Self::definition_for(name, description, key), key: key.to_string(), data })
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
