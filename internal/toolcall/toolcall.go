// Package toolcall finds the tool calls in a model's output, in the forms
// chat templates teach models to write them: Hermes-style
// <tool_call>{"name": ..., "arguments": {...}}</tool_call> blocks (Qwen 2.5,
// Qwen 3, Hermes), the bare JSON object of Llama 3.1/3.2
// ({"name": ..., "parameters": {...}}, optionally after <|python_tag|>),
// and Mistral's [TOOL_CALLS][{...}] list.
package toolcall

import (
	"bytes"
	"encoding/json"
	"strings"
)

// Format is how a model writes tool calls.
type Format int

// The formats Parse knows.
const (
	None      Format = iota // the template defines no tool calls
	Hermes                  // <tool_call>{json}</tool_call>
	Llama3                  // {"name": ..., "parameters": ...}
	MistralV1               // [TOOL_CALLS][{"name": ..., "arguments": ...}]
)

// String names the format.
func (f Format) String() string {
	switch f {
	case Hermes:
		return "hermes"
	case Llama3:
		return "llama3-json"
	case MistralV1:
		return "mistral"
	}
	return "none"
}

// Detect returns the tool-call format a chat template teaches, from the
// markers it writes.
func Detect(template string) Format {
	switch {
	case strings.Contains(template, "<tool_call>"):
		return Hermes
	case strings.Contains(template, "[TOOL_CALLS]"):
		return MistralV1
	case strings.Contains(template, "<|python_tag|>"), strings.Contains(template, `"parameters": `) && strings.Contains(template, "ipython"):
		return Llama3
	}
	return None
}

// Call is one parsed tool call.
type Call struct {
	Name string
	// Arguments is the arguments object as compact JSON text (as the OpenAI
	// API carries it).
	Arguments string
}

// Parse splits a model's output into plain content and the tool calls it
// makes in format f. Text that looks like a call but is not valid JSON with
// a name stays in the content, so nothing the model wrote is lost.
func Parse(f Format, text string) (content string, calls []Call) {
	switch f {
	case Hermes:
		return parseHermes(text)
	case Llama3:
		return parseLlama3(text)
	case MistralV1:
		return parseMistral(text)
	}
	return text, nil
}

const (
	hermesOpen  = "<tool_call>"
	hermesClose = "</tool_call>"
)

func parseHermes(text string) (string, []Call) {
	var content strings.Builder
	var calls []Call
	rest := text
	for {
		i := strings.Index(rest, hermesOpen)
		if i < 0 {
			content.WriteString(rest)
			break
		}
		body := rest[i+len(hermesOpen):]
		end := strings.Index(body, hermesClose)
		next := ""
		if end >= 0 {
			next = body[end+len(hermesClose):]
			body = body[:end]
		}
		c, ok := parseObject(body, "arguments", "parameters")
		if !ok {
			// Not a call: keep it all as content.
			content.WriteString(rest)
			break
		}
		content.WriteString(rest[:i])
		calls = append(calls, c)
		rest = next
		if end < 0 {
			break
		}
	}
	if len(calls) == 0 {
		return text, nil
	}
	return strings.TrimSpace(content.String()), calls
}

func parseLlama3(text string) (string, []Call) {
	s := strings.TrimSpace(text)
	s = strings.TrimSpace(strings.TrimPrefix(s, "<|python_tag|>"))
	if !strings.HasPrefix(s, "{") {
		return text, nil
	}
	// One object, or several separated by ";" as Llama 3.1 sometimes writes.
	var calls []Call
	dec := json.NewDecoder(strings.NewReader(s))
	for {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return text, nil
		}
		c, ok := parseObject(string(raw), "parameters", "arguments")
		if !ok {
			return text, nil
		}
		calls = append(calls, c)
		tail := strings.TrimSpace(s[dec.InputOffset():])
		tail = strings.TrimSpace(strings.TrimPrefix(tail, ";"))
		if tail == "" {
			return "", calls
		}
		if !strings.HasPrefix(tail, "{") {
			return text, nil
		}
		s = tail
		dec = json.NewDecoder(strings.NewReader(s))
	}
}

func parseMistral(text string) (string, []Call) {
	i := strings.Index(text, "[TOOL_CALLS]")
	if i < 0 {
		return text, nil
	}
	var list []json.RawMessage
	dec := json.NewDecoder(strings.NewReader(text[i+len("[TOOL_CALLS]"):]))
	if err := dec.Decode(&list); err != nil || len(list) == 0 {
		return text, nil
	}
	calls := make([]Call, 0, len(list))
	for _, raw := range list {
		c, ok := parseObject(string(raw), "arguments", "parameters")
		if !ok {
			return text, nil
		}
		calls = append(calls, c)
	}
	return strings.TrimSpace(text[:i]), calls
}

// parseObject reads {"name": ..., KEY: {...}} with the arguments under the
// first of keys present (an object, or a string holding one).
func parseObject(body string, keys ...string) (Call, bool) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal([]byte(strings.TrimSpace(body)), &obj); err != nil {
		return Call{}, false
	}
	var name string
	if err := json.Unmarshal(obj["name"], &name); err != nil || name == "" {
		return Call{}, false
	}
	args := json.RawMessage("{}")
	for _, k := range keys {
		if a, ok := obj[k]; ok {
			args = a
			break
		}
	}
	var s string
	if json.Unmarshal(args, &s) == nil {
		// Arguments written as a JSON string holding the object.
		args = json.RawMessage(s)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, args); err != nil || compact.Len() == 0 || compact.Bytes()[0] != '{' {
		return Call{}, false
	}
	return Call{Name: name, Arguments: compact.String()}, true
}

// Marker returns the text that opens a tool call in format f ("" when a
// call is recognised only from the start of the output).
func Marker(f Format) string {
	switch f {
	case Hermes:
		return hermesOpen
	case MistralV1:
		return "[TOOL_CALLS]"
	}
	return ""
}
