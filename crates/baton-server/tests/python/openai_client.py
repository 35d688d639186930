"""Drives `baton serve`'s OpenAI-compatible endpoint with the official `openai` Python client.

A client written by others, so the test shows that what baton serves is what real OpenAI clients
expect, not only what baton's own tests expect. Run it with the virtualenv that
`cargo xtask test` installs (the versions are pinned in .ci/http-clients.txt):

    "$BATON_TEST_HTTP_PYTHON" crates/baton-server/tests/python/openai_client.py \
        --base-url http://127.0.0.1:PORT/v1 --api-key KEY --model support

against a server running examples/support/team.toml (team "support"). It checks, in order:

  1. non-streaming (`with_raw_response`): status 200, an `X-Baton-Conversation` header, a
     `chat.completion` whose first choice is a non-empty assistant message with finish_reason
     "stop" or "length", `model` equal to the team, and `usage.total_tokens >= 0` when usage is sent;
  2. continuing: the whole history (user, assistant, user) sent with that conversation id in
     `X-Baton-Conversation` gets the same id back;
  3. streaming (`with_streaming_response`), again on that conversation: the same id comes back, the
     body is `text/event-stream`, the `chat.completion.chunk`s carry non-empty content, the first
     delta names the role "assistant", one chunk carries finish_reason "stop"/"length" and no content
     follows it, and the raw body ends with `data: [DONE]` (the client itself stops quietly at the
     end of the body whether or not [DONE] came, so the raw bytes are checked too);
  4. an unknown model (team) raises `openai.NotFoundError` (404) with the body
     {"error": {"code": "...", "message": "..."}};
  5. a wrong API key raises `openai.AuthenticationError` (401) with the same kind of body.

The client is built with max_retries=0: by default it retries 408, 409, 429 and 5xx (and
connection errors) twice, which would hide a flaky server. On success it prints one JSON line to
stdout, {"ok": true, ...}; on any failure it prints {"ok": false, "step": ..., "error": ...} to
stdout and a readable message to stderr, and exits 1. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid

import openai
from openai import OpenAI

try:  # the `openai` 3.x client runs on httpx2; older ones on httpx
    import httpx2 as httpx
except ImportError:  # pragma: no cover
    import httpx  # type: ignore[no-redef]

CONVERSATION_HEADER = "X-Baton-Conversation"
MSG1 = "Hi, my internet has been down since this morning. My customer number is 7."
FOLLOW_UP = "It is still down after a restart."
MSG3 = "The light on the router is blinking red."
FINISH_REASONS = {"stop", "length"}


class _TeeStream(httpx.SyncByteStream):
    """Passes a response body through unchanged, keeping a copy of its bytes."""

    def __init__(self, inner, sink: bytearray) -> None:
        self._inner = inner
        self._sink = sink

    def __iter__(self):
        for chunk in self._inner:
            self._sink.extend(chunk)
            yield chunk

    def close(self) -> None:
        self._inner.close()


class RecordingTransport(httpx.HTTPTransport):
    """The default transport, recording each exchange's request and raw response body."""

    def __init__(self) -> None:
        super().__init__()
        self.exchanges: list[tuple[httpx.Request, bytearray]] = []

    def handle_request(self, request):
        response = super().handle_request(request)
        sink = bytearray()
        self.exchanges.append((request, sink))
        return httpx.Response(
            status_code=response.status_code,
            headers=response.headers,
            stream=_TeeStream(response.stream, sink),
            extensions=response.extensions,
            request=request,
        )


class Failure(Exception):
    pass


def check(condition: bool, message: str) -> None:
    # Not `assert`: these checks must run under `python -O` too.
    if not condition:
        raise Failure(message)


def log(message: str) -> None:
    print(f"openai_client: {message}", file=sys.stderr, flush=True)


def make_client(base_url: str, api_key: str, timeout: float, transport: RecordingTransport) -> OpenAI:
    return OpenAI(
        base_url=base_url,
        api_key=api_key,
        max_retries=0,
        timeout=timeout,
        http_client=openai.DefaultHttpxClient(transport=transport, timeout=timeout),
    )


def check_completion(completion, model: str, what: str) -> str:
    check(getattr(completion, "object", None) == "chat.completion",
          f"{what}: object is {getattr(completion, 'object', None)!r}, expected 'chat.completion'")
    check(isinstance(completion.id, str) and completion.id != "", f"{what}: id is {completion.id!r}")
    check(isinstance(completion.created, int), f"{what}: created is {completion.created!r}, expected an int")
    check(completion.model == model, f"{what}: model is {completion.model!r}, expected {model!r}")
    check(isinstance(completion.choices, list) and len(completion.choices) >= 1,
          f"{what}: choices is {completion.choices!r}, expected at least one")
    choice = completion.choices[0]
    message = choice.message
    check(message.role == "assistant", f"{what}: choices[0].message.role is {message.role!r}")
    check(isinstance(message.content, str) and message.content.strip() != "",
          f"{what}: choices[0].message.content is {message.content!r}, expected a non-empty string")
    check(choice.finish_reason in FINISH_REASONS,
          f"{what}: choices[0].finish_reason is {choice.finish_reason!r}, expected one of {sorted(FINISH_REASONS)}")
    if completion.usage is not None:
        total = completion.usage.total_tokens
        check(isinstance(total, int) and total >= 0, f"{what}: usage.total_tokens is {total!r}")
    return message.content


def check_error_body(err: openai.APIStatusError, what: str) -> dict:
    try:
        body = err.response.json()
    except ValueError:
        raise Failure(f"{what}: the error body is not JSON: {err.response.text[:300]!r}") from None
    check(isinstance(body, dict) and isinstance(body.get("error"), dict),
          f"{what}: the error body is {body!r}, expected {{\"error\": {{\"code\": ..., \"message\": ...}}}}")
    error = body["error"]
    check(isinstance(error.get("code"), str) and error["code"] != "",
          f"{what}: error.code is {error.get('code')!r}, expected a non-empty string")
    check(isinstance(error.get("message"), str) and error["message"] != "",
          f"{what}: error.message is {error.get('message')!r}, expected a non-empty string")
    # The client hands on the inner object as `body` and its message in str(err).
    check(isinstance(err.body, dict) and err.body.get("message") == error["message"],
          f"{what}: the client saw body {err.body!r}")
    return error


def parse_sse(raw: bytes, what: str) -> list[str]:
    """The `data:` payloads of an SSE body, in order (comments and other fields skipped)."""
    text = raw.decode("utf-8")
    events: list[str] = []
    for block in text.replace("\r\n", "\n").replace("\r", "\n").split("\n\n"):
        data = [line[5:].removeprefix(" ") for line in block.split("\n") if line.startswith("data:")]
        if data:
            events.append("\n".join(data))
    check(events != [], f"{what}: the raw body has no `data:` events: {text[:300]!r}")
    return events


def run(args: argparse.Namespace, progress: dict) -> dict:
    transport = RecordingTransport()
    client = make_client(args.base_url, args.api_key, args.timeout, transport)
    summary: dict = {"openai_version": openai.__version__}

    step = progress["step"] = "non-streaming"
    log(f"{step}: POST {args.base_url}/chat/completions model={args.model}")
    history = [{"role": "user", "content": MSG1}]
    raw = client.chat.completions.with_raw_response.create(model=args.model, messages=history)
    check(raw.status_code == 200, f"{step}: status {raw.status_code}, expected 200")
    conversation = raw.headers.get(CONVERSATION_HEADER)
    check(bool(conversation), f"{step}: no {CONVERSATION_HEADER} header in {dict(raw.headers)!r}")
    reply1 = check_completion(raw.parse(), args.model, step)
    summary["conversation"] = conversation
    summary["reply1"] = reply1

    step = progress["step"] = "continuing"
    log(f"{step}: conversation {conversation}")
    history += [{"role": "assistant", "content": reply1}, {"role": "user", "content": FOLLOW_UP}]
    raw = client.chat.completions.with_raw_response.create(
        model=args.model, messages=history, extra_headers={CONVERSATION_HEADER: conversation}
    )
    check(raw.status_code == 200, f"{step}: status {raw.status_code}, expected 200")
    again = raw.headers.get(CONVERSATION_HEADER)
    check(again == conversation, f"{step}: {CONVERSATION_HEADER} is {again!r}, expected {conversation!r}")
    reply2 = check_completion(raw.parse(), args.model, step)
    summary["reply2"] = reply2

    step = progress["step"] = "streaming"
    log(f"{step}: conversation {conversation}")
    history += [{"role": "assistant", "content": reply2}, {"role": "user", "content": MSG3}]
    before = len(transport.exchanges)
    with client.chat.completions.with_streaming_response.create(
        model=args.model, messages=history, stream=True, extra_headers={CONVERSATION_HEADER: conversation}
    ) as response:
        check(response.status_code == 200, f"{step}: status {response.status_code}, expected 200")
        again = response.headers.get(CONVERSATION_HEADER)
        check(again == conversation, f"{step}: {CONVERSATION_HEADER} is {again!r}, expected {conversation!r}")
        content_type = response.headers.get("content-type", "")
        check(content_type.split(";")[0].strip() == "text/event-stream",
              f"{step}: content-type is {content_type!r}, expected text/event-stream")
        chunks = list(response.parse())
    check(chunks != [], f"{step}: the stream had no chunks")
    pieces: list[str] = []
    finish: list[tuple[int, str]] = []
    ids = set()
    for i, chunk in enumerate(chunks):
        check(chunk.object == "chat.completion.chunk",
              f"{step}: chunk {i} object is {chunk.object!r}, expected 'chat.completion.chunk'")
        check(chunk.model == args.model, f"{step}: chunk {i} model is {chunk.model!r}, expected {args.model!r}")
        ids.add(chunk.id)
        for choice in chunk.choices:
            delta = choice.delta
            if delta is not None and delta.content:
                check(finish == [], f"{step}: chunk {i} has content after the finish_reason of chunk {finish[:1]}")
                pieces.append(delta.content)
            if delta is not None and delta.role is not None:
                check(delta.role == "assistant", f"{step}: chunk {i} delta.role is {delta.role!r}")
            if choice.finish_reason is not None:
                finish.append((i, choice.finish_reason))
    check(len(ids) == 1, f"{step}: the chunks carry {len(ids)} different ids ({sorted(map(str, ids))[:3]}...), expected one")
    first_role = chunks[0].choices[0].delta.role if chunks[0].choices else None
    check(first_role == "assistant", f"{step}: the first chunk's delta.role is {first_role!r}, expected 'assistant'")
    streamed = "".join(pieces)
    check(streamed.strip() != "", f"{step}: the content deltas join to {streamed!r}, expected non-empty text")
    check(len(finish) == 1, f"{step}: finish_reason set in {len(finish)} chunks {finish}, expected exactly one")
    check(finish[0][1] in FINISH_REASONS,
          f"{step}: finish_reason is {finish[0][1]!r}, expected one of {sorted(FINISH_REASONS)}")
    check(len(transport.exchanges) == before + 1,
          f"{step}: {len(transport.exchanges) - before} HTTP exchanges, expected 1")
    events = parse_sse(bytes(transport.exchanges[-1][1]), step)
    check(events[-1].strip() == "[DONE]", f"{step}: the last SSE event is {events[-1][:200]!r}, expected [DONE]")
    check(events.count("[DONE]") == 1, f"{step}: [DONE] sent {events.count('[DONE]')} times")
    for event in events[:-1]:
        try:
            json.loads(event)
        except ValueError:
            raise Failure(f"{step}: an SSE event before [DONE] is not JSON: {event[:200]!r}") from None
    summary["stream_chunks"] = len(chunks)
    summary["stream_finish_reason"] = finish[0][1]
    summary["reply3"] = streamed

    step = progress["step"] = "unknown model"
    team = f"no-such-team-{uuid.uuid4().hex[:8]}"
    log(f"{step}: model={team}")
    try:
        client.chat.completions.create(model=team, messages=[{"role": "user", "content": MSG1}])
    except openai.NotFoundError as err:
        check(err.status_code == 404, f"{step}: status {err.status_code}, expected 404")
        summary["not_found_code"] = check_error_body(err, step)["code"]
    except openai.APIStatusError as err:
        raise Failure(f"{step}: {type(err).__name__} (status {err.status_code}), expected NotFoundError (404): "
                      f"{err.response.text[:300]!r}") from None
    else:
        raise Failure(f"{step}: model {team!r} was answered, expected openai.NotFoundError (404)")

    step = progress["step"] = "wrong API key"
    log(step)
    bad = make_client(args.base_url, f"{args.api_key}-wrong", args.timeout, RecordingTransport())
    try:
        bad.chat.completions.create(model=args.model, messages=[{"role": "user", "content": MSG1}])
    except openai.AuthenticationError as err:
        check(err.status_code == 401, f"{step}: status {err.status_code}, expected 401")
        summary["unauthorized_code"] = check_error_body(err, step)["code"]
    except openai.APIStatusError as err:
        raise Failure(f"{step}: {type(err).__name__} (status {err.status_code}), expected AuthenticationError (401): "
                      f"{err.response.text[:300]!r}") from None
    else:
        raise Failure(f"{step}: a wrong API key was answered, expected openai.AuthenticationError (401)")

    summary["ok"] = True
    return summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", required=True, help="e.g. http://127.0.0.1:PORT/v1")
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--model", required=True, help="the team's name, e.g. support")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per request (default 60)")
    args = parser.parse_args()
    args.base_url = args.base_url.rstrip("/")

    progress = {"step": "setup"}
    try:
        summary = run(args, progress)
    except Failure as err:
        message = str(err)
    except openai.APIStatusError as err:
        message = (f"{progress['step']}: unexpected {type(err).__name__} (status {err.status_code}): "
                   f"{err.response.text[:300]!r}")
    except openai.APIError as err:  # connection errors, timeouts, errors inside a stream
        message = f"{progress['step']}: unexpected {type(err).__name__}: {err}"
    else:
        print(json.dumps(summary, ensure_ascii=False), flush=True)
        log("all checks passed")
        return 0
    print(json.dumps({"ok": False, "step": progress["step"], "error": message}, ensure_ascii=False), flush=True)
    log(f"FAILED: {message}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
