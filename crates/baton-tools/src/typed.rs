//! Typed tools for the library API: a Rust async function whose arguments type derives
//! `Deserialize` and `JsonSchema` becomes a [`Tool`], with the parameters schema derived from it.
//!
//! The function runs as its own task, so a panic in it becomes an error result instead of ending
//! the turn; dropping the call aborts the task.

use crate::Tool;
use async_trait::async_trait;
use baton_core::{Approval, ToolDef, ToolOutput};
use schemars::generate::SchemaSettings;
use serde_json::{Map, Value};
use std::future::Future;
use std::pin::Pin;

/// What a typed tool's function learns about the call besides its arguments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallContext {
    /// The call's idempotency key: stable if the same call is run again after a crash, so a
    /// function with side effects can pass it on to make a repeat harmless.
    pub idempotency_key: String,
}

/// The boxed future a typed tool's call runs.
type Run = Box<dyn Fn(&Value, CallContext) -> Pin<Box<dyn Future<Output = ToolOutput> + Send>> + Send + Sync>;

/// A tool backed by a Rust function; made by [`typed_tool`].
pub struct TypedTool {
    definition: ToolDef,
    run: Run,
}

/// A tool called `name` that deserializes its arguments into `A`, runs `f`, and answers the
/// serialized `Ok` value (a string as is, anything else as JSON) or the text of the `Err` value as
/// an error result. The parameters schema is `A`'s, with every subschema inlined.
pub fn typed_tool<A, R, E, F, Fut>(name: &str, description: &str, f: F) -> TypedTool
where
    A: serde::de::DeserializeOwned + schemars::JsonSchema + Send + 'static,
    R: serde::Serialize,
    E: std::fmt::Display,
    F: Fn(A, CallContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<R, E>> + Send + 'static,
{
    let tool_name = name.to_string();
    let run: Run = Box::new(move |arguments, context| {
        let arguments = match A::deserialize(arguments) {
            Ok(arguments) => arguments,
            Err(e) => {
                let message = format!("error: the arguments do not fit {tool_name}'s parameters: {e}");
                return Box::pin(std::future::ready(ToolOutput::error(message)));
            }
        };
        let task = f(arguments, context);
        let tool_name = tool_name.clone();
        Box::pin(async move {
            let mut task = AbortOnDrop(tokio::spawn(async move { answer(task.await) }));
            match (&mut task.0).await {
                Ok(output) => output,
                Err(e) => ToolOutput::error(format!("error: '{tool_name}' failed: {e}")),
            }
        })
    });
    TypedTool { definition: ToolDef::new(name, description, parameters::<A>()), run }
}

impl TypedTool {
    /// Sets whether running a call twice with the same idempotency key is safe (the default).
    pub fn idempotent(mut self, idempotent: bool) -> Self {
        self.definition.idempotent = idempotent;
        self
    }

    /// Sets when a call waits for a person's approval (never, by default).
    pub fn approval(mut self, approval: Approval) -> Self {
        self.definition.approval = approval;
        self
    }
}

#[async_trait]
impl Tool for TypedTool {
    fn definition(&self) -> &ToolDef {
        &self.definition
    }

    async fn call(&self, arguments: &Value, idempotency_key: &str) -> ToolOutput {
        (self.run)(arguments, CallContext { idempotency_key: idempotency_key.to_string() }).await
    }
}

/// Aborts the task when the call is dropped (stopped by a timeout).
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The result of a typed function as a tool output.
fn answer<R: serde::Serialize, E: std::fmt::Display>(result: Result<R, E>) -> ToolOutput {
    match result.map(|value| serde_json::to_value(value)) {
        Ok(Ok(Value::String(text))) => ToolOutput::ok(text),
        Ok(Ok(value)) => ToolOutput::ok(value.to_string()),
        Ok(Err(e)) => ToolOutput::error(format!("error: the tool's result cannot be turned into JSON: {e}")),
        Err(e) => ToolOutput::error(e.to_string()),
    }
}

/// `A`'s JSON schema as tool parameters: subschemas inlined, no `$schema` or `title`, and
/// `"type": "object"`.
fn parameters<A: schemars::JsonSchema>() -> Value {
    let generator = SchemaSettings::default()
        .with(|settings| {
            settings.inline_subschemas = true;
            settings.meta_schema = None;
        })
        .into_generator();
    let mut schema = match generator.into_root_schema_for::<A>().to_value() {
        Value::Object(schema) => schema,
        _ => Map::new(),
    };
    schema.remove("$schema");
    schema.remove("title");
    schema.insert("type".to_string(), Value::String("object".to_string()));
    Value::Object(schema)
}
