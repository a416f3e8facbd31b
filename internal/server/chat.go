package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/memfit/memfit/internal/chat"
	"github.com/memfit/memfit/internal/constrain"
	"github.com/memfit/memfit/internal/engine"
	"github.com/memfit/memfit/internal/toolcall"
)

// roles a chat message may have.
var roles = map[string]bool{"system": true, "developer": true, "user": true, "assistant": true, "tool": true, "function": true}

// messages converts OpenAI chat messages to template values the way
// llama.cpp and vLLM hand them to chat templates: text parts joined into
// one string, "developer" as "system", tool-call arguments parsed from
// their JSON text into objects.
func messages(raw []json.RawMessage) (chat.List, *requestError) {
	if len(raw) == 0 {
		return nil, badRequest("messages", "messages: want at least one message")
	}
	out := make(chat.List, 0, len(raw))
	for i, m := range raw {
		param := fmt.Sprintf("messages[%d]", i)
		v, err := chat.ParseJSON(m)
		if err != nil {
			return nil, badRequest(param, "%s: %v", param, err)
		}
		d, ok := v.(*chat.Dict)
		if !ok {
			return nil, badRequest(param, "%s: want an object", param)
		}
		rv, _ := d.GetStr("role")
		role, ok := rv.(chat.Str)
		if !ok || !roles[string(role)] {
			return nil, badRequest(param+".role", "%s.role: want one of system, developer, user, assistant, tool", param)
		}
		if role == "developer" {
			d.SetStr("role", chat.Str("system"))
		}
		if c, ok := d.GetStr("content"); ok {
			switch c := c.(type) {
			case chat.Str:
			case chat.NoneType:
				if role != "assistant" {
					return nil, badRequest(param+".content", "%s.content is required", param)
				}
				d.SetStr("content", chat.Str(""))
			case chat.List:
				var parts []string
				for j, p := range c {
					pd, ok := p.(*chat.Dict)
					typ, _ := dictStr(pd, "type")
					if !ok || typ != "text" {
						return nil, badRequest(fmt.Sprintf("%s.content[%d]", param, j), "%s.content[%d]: only text parts are supported (got type %q)", param, j, typ)
					}
					text, _ := dictStr(pd, "text")
					parts = append(parts, text)
				}
				d.SetStr("content", chat.Str(strings.Join(parts, "\n")))
			default:
				return nil, badRequest(param+".content", "%s.content: want a string, a list of text parts or null", param)
			}
		} else if role != "assistant" {
			return nil, badRequest(param+".content", "%s.content is required", param)
		} else {
			// An assistant message that only calls tools has no content;
			// templates read it as text (as llama.cpp and vLLM pass it).
			d.SetStr("content", chat.Str(""))
		}
		if tc, ok := d.GetStr("tool_calls"); ok {
			list, ok := tc.(chat.List)
			if !ok {
				if _, none := tc.(chat.NoneType); !none {
					return nil, badRequest(param+".tool_calls", "%s.tool_calls: want a list", param)
				}
			}
			for j, call := range list {
				cd, ok := call.(*chat.Dict)
				fv, _ := cd.GetStr("function")
				fd, ok2 := fv.(*chat.Dict)
				if !ok || !ok2 {
					return nil, badRequest(fmt.Sprintf("%s.tool_calls[%d]", param, j), "%s.tool_calls[%d]: want {\"type\": \"function\", \"function\": {\"name\": ..., \"arguments\": ...}}", param, j)
				}
				if args, ok := dictStr(fd, "arguments"); ok {
					if parsed, err := chat.ParseJSON([]byte(args)); err == nil {
						fd.SetStr("arguments", parsed)
					}
				}
			}
		}
		out = append(out, d)
	}
	return out, nil
}

func dictStr(d *chat.Dict, key string) (string, bool) {
	if d == nil {
		return "", false
	}
	v, ok := d.GetStr(key)
	if !ok {
		return "", false
	}
	s, ok := v.(chat.Str)
	return string(s), ok
}

// toolChoice is what the request asks of tools: none, auto, required, or
// one named function.
type toolChoice struct {
	mode string // "none", "auto", "required", "function"
	name string
}

func parseToolChoice(raw json.RawMessage) (toolChoice, *requestError) {
	if len(raw) == 0 || string(raw) == "null" {
		return toolChoice{mode: "auto"}, nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		switch s {
		case "none", "auto", "required":
			return toolChoice{mode: s}, nil
		}
		return toolChoice{}, badRequest("tool_choice", "tool_choice %q: want none, auto, required or {\"type\": \"function\", \"function\": {\"name\": ...}}", s)
	}
	var obj struct {
		Type     string `json:"type"`
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	}
	if json.Unmarshal(raw, &obj) != nil || obj.Type != "function" || obj.Function.Name == "" {
		return toolChoice{}, badRequest("tool_choice", "tool_choice: want none, auto, required or {\"type\": \"function\", \"function\": {\"name\": ...}}")
	}
	return toolChoice{mode: "function", name: obj.Function.Name}, nil
}

// tools checks the tools list and returns it as a template value with the
// names it holds.
func tools(raw json.RawMessage, choice toolChoice) (chat.Value, []string, *requestError) {
	if len(raw) == 0 || string(raw) == "null" {
		if choice.mode == "required" || choice.mode == "function" {
			return nil, nil, badRequest("tool_choice", "tool_choice %s without tools", choice.mode)
		}
		return nil, nil, nil
	}
	v, err := chat.ParseJSON(raw)
	if err != nil {
		return nil, nil, badRequest("tools", "tools: %v", err)
	}
	list, ok := v.(chat.List)
	if !ok {
		return nil, nil, badRequest("tools", "tools: want a list")
	}
	var names []string
	kept := chat.List{}
	for i, t := range list {
		d, ok := t.(*chat.Dict)
		typ, _ := dictStr(d, "type")
		fv, _ := d.GetStr("function")
		fd, ok2 := fv.(*chat.Dict)
		name, ok3 := dictStr(fd, "name")
		if !ok || typ != "function" || !ok2 || !ok3 || name == "" {
			return nil, nil, badRequest(fmt.Sprintf("tools[%d]", i), "tools[%d]: want {\"type\": \"function\", \"function\": {\"name\": ..., \"parameters\": {...}}}", i)
		}
		if choice.mode == "function" && name != choice.name {
			continue
		}
		names = append(names, name)
		kept = append(kept, d)
	}
	if choice.mode == "function" && len(names) == 0 {
		return nil, nil, badRequest("tool_choice", "tool_choice names %q, which is not among the tools", choice.name)
	}
	if len(kept) == 0 {
		return nil, nil, nil
	}
	return kept, names, nil
}

// forcedCall is how a request that requires a tool call gets one: the
// opening of a call in the template's format appended to the prompt (with
// the function's name when only one may be called), and the constraint
// parts that make the rest a well-formed call: the name (a choice among
// the tools), a JSON object of arguments, and the closing.
func forcedCall(f toolcall.Format, choice toolChoice, names []string) (prefix string, parts []constrain.Part) {
	if choice.mode != "required" && choice.mode != "function" {
		return "", nil
	}
	name := choice.name
	if name == "" && len(names) == 1 {
		name = names[0]
	}
	var open, argsKey, closing string
	switch f {
	case toolcall.Hermes:
		open, argsKey, closing = "<tool_call>\n{\"name\": \"", "arguments", "}\n</tool_call>"
	case toolcall.Llama3:
		open, argsKey, closing = "{\"name\": \"", "parameters", "}"
	case toolcall.MistralV1:
		open, argsKey, closing = "[TOOL_CALLS][{\"name\": \"", "arguments", "}]"
	default:
		return "", nil
	}
	afterName := "\", \"" + argsKey + "\": "
	if name != "" {
		prefix = open + jsonInner(name) + afterName
	} else {
		prefix = open
		alts := make([]string, len(names))
		for i, n := range names {
			alts[i] = jsonInner(n) + afterName
		}
		parts = append(parts, constrain.Choice(alts...))
	}
	return prefix, append(parts, constrain.JSONObject(), constrain.Literal(closing))
}

// jsonInner is s as a JSON string, without the quotes.
func jsonInner(s string) string {
	b, _ := json.Marshal(s)
	return string(b[1 : len(b)-1])
}

// chatJob is a chat request checked and turned into an engine request.
type chatJob struct {
	req    chatRequest
	ereq   engine.Request
	format toolcall.Format // the tool-call format to parse, None without tools
	prefix string          // forced start of the reply (a required tool call)
}

// prepareChat reads and checks a chat request, renders its prompt and
// builds the engine request, without generating.
func (s *Server) prepareChat(w http.ResponseWriter, r *http.Request) (*chatJob, *requestError) {
	var req chatRequest
	if e := s.decode(w, r, &req); e != nil {
		return nil, e
	}
	maxParam, maxTokens := "max_tokens", req.MaxTokens
	if req.MaxCompletionTokens != nil {
		maxParam, maxTokens = "max_completion_tokens", req.MaxCompletionTokens
	}
	params, maxN, stop, e := s.params(&req.samplingFields, maxTokens, maxParam)
	if e != nil {
		return nil, e
	}
	if s.cfg.Template == nil {
		return nil, badRequest("messages", "the model %s has no chat template: start the server with --chat-template FILE, or use /v1/completions", s.cfg.Model)
	}
	jsonMode := false
	if rf := req.ResponseFormat; rf != nil {
		switch rf.Type {
		case "", "text":
		case "json_object":
			jsonMode = true
		default:
			return nil, badRequest("response_format", "response_format %q is not supported (\"text\" and \"json_object\" are)", rf.Type)
		}
	}
	msgs, e := messages(req.Messages)
	if e != nil {
		return nil, e
	}
	choice, e := parseToolChoice(req.ToolChoice)
	if e != nil {
		return nil, e
	}
	toolList, names, e := tools(req.Tools, choice)
	if e != nil {
		return nil, e
	}
	format := s.tools
	if choice.mode == "none" {
		toolList, format = nil, toolcall.None
	}
	if toolList == nil {
		format = toolcall.None
	}
	if format == toolcall.None && (choice.mode == "required" || choice.mode == "function") {
		return nil, badRequest("tool_choice", "the chat template of %s defines no tool-call format, so a tool call cannot be required", s.cfg.Model)
	}
	in := chat.ChatInput{Messages: msgs, Tools: toolList, AddGenerationPrompt: true}
	if len(req.ChatTemplateKwargs) > 0 && string(req.ChatTemplateKwargs) != "null" {
		v, err := chat.ParseJSON(req.ChatTemplateKwargs)
		d, ok := v.(*chat.Dict)
		if err != nil || !ok {
			return nil, badRequest("chat_template_kwargs", "chat_template_kwargs: want an object")
		}
		in.Kwargs = d
	}
	text, err := s.cfg.Template.Render(in)
	if err != nil {
		return nil, badRequest("messages", "%v", err)
	}
	prefix, parts := forcedCall(format, choice, names)
	if jsonMode {
		if parts != nil {
			return nil, badRequest("response_format", "response_format json_object cannot be combined with a required tool call")
		}
		parts = []constrain.Part{constrain.JSONObject()}
	}
	text += prefix
	ids := s.cfg.Engine.Tokenizer().Encode(text, false) // the template writes BOS itself
	if e := s.checkFits(len(ids), maxN, maxParam); e != nil {
		return nil, e
	}
	// Formats whose call marker is a special token need special tokens in
	// the text to be parsed.
	ereq := engine.Request{Prompt: ids, MaxTokens: maxN, Sampling: params, Stop: stop,
		KeepSpecial: format == toolcall.Llama3 || format == toolcall.MistralV1}
	if err := s.cfg.Engine.Check(ereq); err != nil {
		return nil, engineErrorOrBad(err)
	}
	if parts != nil {
		c, err := constrain.New(s.vocab(), parts...)
		if err != nil {
			return nil, badRequest("tools", "%v", err)
		}
		ereq.Constraint = c
	}
	return &chatJob{req: req, ereq: ereq, format: format, prefix: prefix}, nil
}

func (s *Server) chatCompletions(w http.ResponseWriter, r *http.Request) {
	job, e := s.prepareChat(w, r)
	if e != nil {
		s.fail(w, r, e)
		return
	}
	req, ereq, format, prefix := &job.req, job.ereq, job.format, job.prefix
	id, created := newID("chatcmpl-"), time.Now().Unix()
	reply := func(res *engine.Result) (content string, calls []toolCall, finish string) {
		content, finish = prefix+res.Text, res.Finish
		if format == toolcall.None {
			return content, nil, finish
		}
		body, parsed := toolcall.Parse(format, content)
		if len(parsed) == 0 {
			return content, nil, finish
		}
		for i, c := range parsed {
			idx := i
			calls = append(calls, toolCall{Index: &idx, ID: newID("call_"), Type: "function", Function: toolCallFunction{Name: c.Name, Arguments: c.Arguments}})
		}
		return body, calls, "tool_calls"
	}
	if !req.Stream {
		res, e := s.run(r, ereq, nil)
		if e != nil {
			s.fail(w, r, e)
			return
		}
		content, calls, finish := reply(res)
		for i := range calls {
			calls[i].Index = nil
		}
		msg := chatMessage{Role: "assistant", Content: &content, ToolCalls: calls}
		if len(calls) > 0 && content == "" {
			msg.Content = nil
		}
		writeJSON(w, http.StatusOK, chatResponse{
			ID: id, Object: "chat.completion", Created: created, Model: s.cfg.Model, SystemFingerprint: fingerprint,
			Choices: []chatChoice{{Message: msg, FinishReason: finish}},
			Usage:   *usageOf(res),
		})
		return
	}

	ev := startSSE(w)
	chunk := func(d chatDelta, finish *string) chatChunk {
		return chatChunk{ID: id, Object: "chat.completion.chunk", Created: created, Model: s.cfg.Model, SystemFingerprint: fingerprint,
			Choices: []chunkChoice{{Delta: d, FinishReason: finish}}}
	}
	empty := ""
	if err := ev.send(chunk(chatDelta{Role: "assistant", Content: &empty}, nil)); err != nil {
		return
	}
	// With tools, text that may open a tool call is held back until the
	// end, when it is parsed; everything before it streams.
	ts := &toolStream{marker: toolcall.Marker(format), holding: prefix != ""}
	res, e := s.run(r, ereq, func(t string) error {
		if format == toolcall.None {
			return ev.send(chunk(chatDelta{Content: &t}, nil))
		}
		if piece := ts.add(t); piece != "" {
			return ev.send(chunk(chatDelta{Content: &piece}, nil))
		}
		return nil
	})
	if e != nil {
		if r.Context().Err() == nil {
			ev.sendError(e)
		}
		return
	}
	finish := res.Finish
	if format != toolcall.None {
		_, calls, f := reply(res)
		finish = f
		if len(calls) == 0 {
			// No call after all: the held-back text is content.
			rest := ts.rest()
			if prefix != "" {
				rest = prefix + res.Text
			}
			if rest != "" {
				ev.send(chunk(chatDelta{Content: &rest}, nil))
			}
		}
		for i := range calls {
			ev.send(chunk(chatDelta{ToolCalls: []toolCall{calls[i]}}, nil))
		}
	}
	ev.send(chunk(chatDelta{}, &finish))
	if req.StreamOptions != nil && req.StreamOptions.IncludeUsage {
		c := chatChunk{ID: id, Object: "chat.completion.chunk", Created: created, Model: s.cfg.Model, SystemFingerprint: fingerprint,
			Choices: []chunkChoice{}, Usage: usageOf(res)}
		ev.send(c)
	}
	ev.done()
}

// fingerprint is the system_fingerprint of every response.
const fingerprint = "memfit-0.1"

// toolStream decides, while a reply that may call tools streams, which text
// can be sent now: everything before a tool-call marker (or before text at
// the end that could still begin one); from the marker on, the text is held
// back to be parsed at the end. For the Llama 3 JSON format (no marker) a
// call is the whole reply, so a reply starting with "{" is held whole.
type toolStream struct {
	marker  string
	holding bool
	all     strings.Builder
	sent    int // bytes of all already streamed
}

// add takes the next piece of generated text and returns what may be
// streamed now ("" for nothing).
func (ts *toolStream) add(t string) string {
	ts.all.WriteString(t)
	if ts.holding {
		return ""
	}
	sofar := ts.all.String()
	upto := len(sofar)
	if ts.marker == "" {
		trimmed := strings.TrimSpace(sofar)
		if trimmed == "" {
			return "" // not yet known
		}
		if strings.HasPrefix(trimmed, "{") || strings.HasPrefix(trimmed, "<|python_tag|>") {
			ts.holding = true
			return ""
		}
	} else if i := strings.Index(sofar[max(0, ts.sent-len(ts.marker)):], ts.marker); i >= 0 {
		ts.holding = true
		upto = max(0, ts.sent-len(ts.marker)) + i
	} else {
		upto -= holdBack(sofar, ts.marker)
	}
	if upto <= ts.sent {
		return ""
	}
	piece := sofar[ts.sent:upto]
	ts.sent = upto
	return piece
}

// rest is the text not streamed yet.
func (ts *toolStream) rest() string { return ts.all.String()[ts.sent:] }
