package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"
)

// TestOpenAIClient drives one server (the demo model, the Qwen 3 chat
// template, two sequences) through the official client: models,
// completions and chat completions, whole and streamed, stop strings and
// tool calls.
func TestOpenAIClient(t *testing.T) {
	ref := readReference(t)
	s := startServer(t, "--parallel", "2", "--chat-template", qwen3Template(t))
	c := s.client()
	ctx := context.Background()

	t.Run("models", func(t *testing.T) {
		page, err := c.Models.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Data) != 1 || page.Data[0].ID != demoModel || page.Data[0].Object != "model" || page.Data[0].OwnedBy == "" {
			t.Fatalf("models: %+v", page.Data)
		}
		m, err := c.Models.Get(ctx, demoModel)
		if err != nil {
			t.Fatal(err)
		}
		if m.ID != demoModel {
			t.Fatalf("model %q, want %q", m.ID, demoModel)
		}
		_, err = c.Models.Get(ctx, "gpt-4o")
		wantAPIError(t, err, http.StatusNotFound, "model_not_found")
	})

	// Greedy completions reproduce the reference greedy text of gocoder.
	t.Run("completion", func(t *testing.T) {
		for _, p := range ref.Prompts {
			resp, err := c.Completions.New(ctx, openai.CompletionNewParams{
				Model:       demoModel,
				Prompt:      openai.CompletionNewParamsPromptUnion{OfString: openai.String(p.Prompt)},
				MaxTokens:   openai.Int(int64(len(p.GreedyIDs))),
				Temperature: openai.Float(0),
			})
			if err != nil {
				t.Fatal(err)
			}
			if resp.Object != "text_completion" || len(resp.Choices) != 1 || resp.Model != demoModel || !strings.HasPrefix(resp.ID, "cmpl-") {
				t.Fatalf("response: %s", resp.RawJSON())
			}
			ch := resp.Choices[0]
			if ch.Text != p.GreedyText || ch.FinishReason != "length" {
				t.Errorf("prompt %q: text %q (finish %s), want %q (length)", p.Prompt, ch.Text, ch.FinishReason, p.GreedyText)
			}
			u := resp.Usage
			if u.PromptTokens != int64(len(p.IDs)) || u.CompletionTokens != int64(len(p.GreedyIDs)) || u.TotalTokens != u.PromptTokens+u.CompletionTokens {
				t.Errorf("prompt %q: usage %+v, want %d prompt + %d completion tokens", p.Prompt, u, len(p.IDs), len(p.GreedyIDs))
			}
		}
	})

	t.Run("completion stream", func(t *testing.T) {
		p := ref.Prompts[2]
		stream := c.Completions.NewStreaming(ctx, openai.CompletionNewParams{
			Model:         demoModel,
			Prompt:        openai.CompletionNewParamsPromptUnion{OfString: openai.String(p.Prompt)},
			MaxTokens:     openai.Int(int64(len(p.GreedyIDs))),
			Temperature:   openai.Float(0),
			StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
		})
		var text strings.Builder
		var finish string
		var usage openai.CompletionUsage
		chunks := 0
		for stream.Next() {
			ch := stream.Current()
			chunks++
			for _, choice := range ch.Choices {
				text.WriteString(choice.Text)
				if choice.FinishReason != "" {
					finish = string(choice.FinishReason)
				}
			}
			if ch.Usage.TotalTokens > 0 {
				usage = ch.Usage
			}
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		if text.String() != p.GreedyText || finish != "length" {
			t.Fatalf("streamed %q (finish %q), want %q (length)", text.String(), finish, p.GreedyText)
		}
		if chunks < 10 {
			t.Errorf("%d chunks for %d tokens: the text did not stream", chunks, len(p.GreedyIDs))
		}
		if usage.CompletionTokens != int64(len(p.GreedyIDs)) || usage.PromptTokens != int64(len(p.IDs)) {
			t.Errorf("usage %+v", usage)
		}
	})

	// A stop string ends the text before it, with finish_reason stop, in
	// both kinds of response.
	t.Run("stop", func(t *testing.T) {
		p := ref.Prompts[1]
		want, _, ok := strings.Cut(p.GreedyText, "\n\n")
		if !ok {
			t.Fatalf("the reference text of %q has no blank line to stop at", p.Prompt)
		}
		params := openai.CompletionNewParams{
			Model:       demoModel,
			Prompt:      openai.CompletionNewParamsPromptUnion{OfString: openai.String(p.Prompt)},
			MaxTokens:   openai.Int(int64(len(p.GreedyIDs))),
			Temperature: openai.Float(0),
			Stop:        openai.CompletionNewParamsStopUnion{OfStringArray: []string{"\n\n", "never appears"}},
		}
		resp, err := c.Completions.New(ctx, params)
		if err != nil {
			t.Fatal(err)
		}
		if got := resp.Choices[0]; got.Text != want || got.FinishReason != "stop" {
			t.Fatalf("text %q (finish %s), want %q (stop)", got.Text, got.FinishReason, want)
		}
		stream := c.Completions.NewStreaming(ctx, params)
		var text strings.Builder
		for stream.Next() {
			for _, ch := range stream.Current().Choices {
				text.WriteString(ch.Text)
			}
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		if text.String() != want {
			t.Fatalf("streamed %q, want %q", text.String(), want)
		}
	})

	chatParams := openai.ChatCompletionNewParams{
		Model: demoModel,
		Messages: []openai.ChatCompletionMessageParamUnion{
			openai.SystemMessage("You write Go."),
			openai.UserMessage("Write a function that adds two ints."),
		},
		MaxCompletionTokens: openai.Int(40),
		Temperature:         openai.Float(0),
		Seed:                openai.Int(1),
	}

	// Whole and streamed chat completions give the same greedy reply.
	t.Run("chat", func(t *testing.T) {
		resp, err := c.Chat.Completions.New(ctx, chatParams)
		if err != nil {
			t.Fatal(err)
		}
		if resp.Object != "chat.completion" || !strings.HasPrefix(resp.ID, "chatcmpl-") || len(resp.Choices) != 1 {
			t.Fatalf("response: %s", resp.RawJSON())
		}
		msg := resp.Choices[0].Message
		if msg.Role != "assistant" || msg.Content == "" || len(msg.ToolCalls) != 0 {
			t.Fatalf("message: %s", msg.RawJSON())
		}
		if resp.Usage.CompletionTokens != 40 || resp.Choices[0].FinishReason != "length" || resp.Usage.PromptTokens < 10 {
			t.Fatalf("usage %+v, finish %s: want 40 tokens, length", resp.Usage, resp.Choices[0].FinishReason)
		}

		sp := chatParams
		sp.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
		stream := c.Chat.Completions.NewStreaming(ctx, sp)
		var acc openai.ChatCompletionAccumulator
		chunks := 0
		for stream.Next() {
			ch := stream.Current()
			if ch.Object != "chat.completion.chunk" {
				t.Fatalf("chunk object %q", ch.Object)
			}
			if !acc.AddChunk(ch) {
				t.Fatalf("the accumulator refused chunk %s", ch.RawJSON())
			}
			chunks++
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		if len(acc.Choices) != 1 {
			t.Fatalf("%d choices accumulated", len(acc.Choices))
		}
		got := acc.Choices[0]
		if got.Message.Content != msg.Content || got.FinishReason != "length" {
			t.Fatalf("streamed %q (finish %s), whole %q", got.Message.Content, got.FinishReason, msg.Content)
		}
		if acc.Usage.CompletionTokens != 40 || acc.Usage.PromptTokens != resp.Usage.PromptTokens {
			t.Fatalf("streamed usage %+v, whole %+v", acc.Usage, resp.Usage)
		}
		if chunks < 10 {
			t.Errorf("%d chunks for 40 tokens: the reply did not stream", chunks)
		}
	})

	t.Run("chat stop", func(t *testing.T) {
		resp, err := c.Chat.Completions.New(ctx, chatParams)
		if err != nil {
			t.Fatal(err)
		}
		full := resp.Choices[0].Message.Content
		// Stop at the second rune-aligned third of the reply.
		cut := len(full) / 3
		for cut < len(full) && full[cut]&0xC0 == 0x80 {
			cut++
		}
		stop := full[cut:min(len(full), cut+3)]
		if stop == "" {
			t.Fatalf("reply %q too short to stop in", full)
		}
		want := full[:strings.Index(full, stop)]
		p := chatParams
		p.Stop = openai.ChatCompletionNewParamsStopUnion{OfString: openai.String(stop)}
		resp, err = c.Chat.Completions.New(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		if got := resp.Choices[0]; got.Message.Content != want || got.FinishReason != "stop" {
			t.Fatalf("with stop %q: %q (finish %s), want %q (stop)", stop, got.Message.Content, got.FinishReason, want)
		}
	})

	// A tool-call round trip: the request names the function, so the reply
	// must call it (constrained decoding makes the model's arguments a JSON
	// object); the call goes back with the tool's result and the model
	// answers.
	tools := []openai.ChatCompletionToolUnionParam{
		openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
			Name:        "get_weather",
			Description: openai.String("The weather in a city."),
			Parameters: shared.FunctionParameters{
				"type":       "object",
				"properties": map[string]any{"city": map[string]any{"type": "string"}},
				"required":   []string{"city"},
			},
		}),
		openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
			Name:       "get_time",
			Parameters: shared.FunctionParameters{"type": "object", "properties": map[string]any{}},
		}),
	}
	toolParams := openai.ChatCompletionNewParams{
		Model:               demoModel,
		Messages:            []openai.ChatCompletionMessageParamUnion{openai.UserMessage("What is the weather in Paris?")},
		Tools:               tools,
		ToolChoice:          openai.ToolChoiceOptionFunctionToolChoice(openai.ChatCompletionNamedToolChoiceFunctionParam{Name: "get_weather"}),
		MaxCompletionTokens: openai.Int(100),
		Temperature:         openai.Float(0),
		FrequencyPenalty:    openai.Float(1),
	}
	t.Run("tool call round trip", func(t *testing.T) {
		var resp *openai.ChatCompletion
		toolParams, resp = firstCompleteCall(t, c, toolParams)
		choice := resp.Choices[0]
		call := choice.Message.ToolCalls[0]
		if call.Type != "function" || call.Function.Name != "get_weather" || !strings.HasPrefix(call.ID, "call_") {
			t.Fatalf("call: %s", call.RawJSON())
		}
		var args map[string]any
		if err := json.Unmarshal([]byte(call.Function.Arguments), &args); err != nil {
			t.Fatalf("arguments %q are not a JSON object: %v", call.Function.Arguments, err)
		}
		if choice.Message.Content != "" {
			t.Errorf("content %q beside the call", choice.Message.Content)
		}
		t.Logf("the model called get_weather(%s)", call.Function.Arguments)

		// The same call, streamed.
		stream := c.Chat.Completions.NewStreaming(ctx, toolParams)
		var acc openai.ChatCompletionAccumulator
		var finished []openai.FinishedChatCompletionToolCall
		for stream.Next() {
			acc.AddChunk(stream.Current())
			if tc, ok := acc.JustFinishedToolCall(); ok {
				finished = append(finished, tc)
			}
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		if len(finished) != 1 || finished[0].Name != "get_weather" || finished[0].Arguments != call.Function.Arguments {
			t.Fatalf("streamed calls %+v, whole call %s", finished, call.RawJSON())
		}
		if acc.Choices[0].FinishReason != "tool_calls" {
			t.Fatalf("streamed finish %q", acc.Choices[0].FinishReason)
		}

		// The round trip: the assistant's call and the tool's answer go
		// back; tool_choice none asks for a plain reply.
		next := toolParams
		next.Messages = append(append([]openai.ChatCompletionMessageParamUnion{}, toolParams.Messages...),
			choice.Message.ToParam(),
			openai.ToolMessage(`{"temperature_c": 21, "sky": "clear"}`, call.ID))
		next.ToolChoice = openai.ChatCompletionToolChoiceOptionUnionParam{OfAuto: openai.String("none")}
		next.MaxCompletionTokens = openai.Int(30)
		resp2, err := c.Chat.Completions.New(ctx, next)
		if err != nil {
			var e *openai.Error
			if errors.As(err, &e) {
				t.Fatalf("%v: %s", err, e.RawJSON())
			}
			t.Fatal(err)
		}
		if got := resp2.Choices[0]; len(got.Message.ToolCalls) != 0 || got.Message.Content == "" || got.FinishReason == "tool_calls" {
			t.Fatalf("after the tool's answer: %s", resp2.RawJSON())
		}
		// The call and the tool's answer are in the prompt: it is longer
		// than the user's message alone (tool_choice none leaves the tool
		// list out of both).
		alone := next
		alone.Messages = toolParams.Messages
		alone.MaxCompletionTokens = openai.Int(1)
		resp3, err := c.Chat.Completions.New(ctx, alone)
		if err != nil {
			t.Fatal(err)
		}
		if resp2.Usage.PromptTokens < resp3.Usage.PromptTokens+20 {
			t.Errorf("prompt of %d tokens after the call and the tool answer, %d for the user's message alone", resp2.Usage.PromptTokens, resp3.Usage.PromptTokens)
		}
	})

	// tool_choice "required" with one tool calls it; with several the
	// model picks the name among them.
	t.Run("tool choice required", func(t *testing.T) {
		for _, tc := range []struct {
			name  string
			tools []openai.ChatCompletionToolUnionParam
		}{{"one tool", tools[:1]}, {"two tools", tools}} {
			p := toolParams
			p.Tools = tc.tools
			p.ToolChoice = openai.ChatCompletionToolChoiceOptionUnionParam{OfAuto: openai.String("required")}
			_, resp := firstCompleteCall(t, c, p)
			call := resp.Choices[0].Message.ToolCalls[0]
			if call.Function.Name != "get_weather" && (len(tc.tools) == 1 || call.Function.Name != "get_time") {
				t.Fatalf("%s: called %q", tc.name, call.Function.Name)
			}
			t.Logf("%s: the model called %s(%s)", tc.name, call.Function.Name, call.Function.Arguments)
		}
	})

	t.Run("errors", func(t *testing.T) {
		p := chatParams
		p.Model = "gpt-4o"
		_, err := c.Chat.Completions.New(ctx, p)
		wantAPIError(t, err, http.StatusNotFound, "model_not_found")

		p = chatParams
		p.MaxCompletionTokens = openai.Int(-1)
		_, err = c.Chat.Completions.New(ctx, p)
		wantAPIError(t, err, http.StatusBadRequest, "")

		p = chatParams
		p.MaxCompletionTokens = openai.Int(1 << 40)
		_, err = c.Chat.Completions.New(ctx, p)
		wantAPIError(t, err, http.StatusBadRequest, "context_length_exceeded")

		p = chatParams
		p.Messages = []openai.ChatCompletionMessageParamUnion{openai.UserMessage(strings.Repeat("func main() {} ", 2000))}
		_, err = c.Chat.Completions.New(ctx, p)
		wantAPIError(t, err, http.StatusBadRequest, "context_length_exceeded")

		p = chatParams
		p.N = openai.Int(2)
		_, err = c.Chat.Completions.New(ctx, p)
		wantAPIError(t, err, http.StatusBadRequest, "")

		p = chatParams
		p.Logprobs = openai.Bool(true)
		_, err = c.Chat.Completions.New(ctx, p)
		wantAPIError(t, err, http.StatusBadRequest, "")

		// A field of the wrong type, through the client's extra fields.
		_, err = c.Chat.Completions.New(ctx, chatParams, option.WithJSONSet("temperature", "hot"))
		if e := wantAPIError(t, err, http.StatusBadRequest, ""); e != nil && e.Param != "temperature" {
			t.Errorf("param %q, want temperature", e.Param)
		}

		// The server still serves.
		if _, err := c.Chat.Completions.New(ctx, chatParams); err != nil {
			t.Fatalf("after the errors: %v", err)
		}
	})
}

// wantAPIError checks that err is an OpenAI API error with the status
// (and code, if not empty) and returns it.
func wantAPIError(t *testing.T, err error, status int, code string) *openai.Error {
	t.Helper()
	var e *openai.Error
	if !errors.As(err, &e) {
		t.Errorf("error %v (%T), want an *openai.Error with status %d", err, err, status)
		return nil
	}
	if e.StatusCode != status || (code != "" && e.Code != code) || e.Message == "" || e.Type == "" {
		t.Errorf("error status %d, code %q, type %q, message %q; want status %d, code %q", e.StatusCode, e.Code, e.Type, e.Message, status, code)
	}
	return e
}

// callPrompts are user messages to try for a tool call. The demo model
// writes Go, not JSON: constrained decoding guarantees that what it writes
// after the forced call opening is a JSON object, but with some prompts its
// greedy output loops inside a string until max_tokens (a frequency
// penalty, set in the requests, breaks most loops). The first prompt
// whose call completes is used; every other must end by length with the
// call's opening.
var callPrompts = []string{"Is it raining in London today?", "paris", "Call get_weather", "What's the weather like in Berlin?"}

// firstCompleteCall sends p with each of callPrompts in turn until the reply
// is one complete tool call, checks it, and returns the parameters and
// reply that made it.
func firstCompleteCall(t *testing.T, c openai.Client, p openai.ChatCompletionNewParams) (openai.ChatCompletionNewParams, *openai.ChatCompletion) {
	t.Helper()
	for _, prompt := range callPrompts {
		p.Messages = []openai.ChatCompletionMessageParamUnion{openai.UserMessage(prompt)}
		resp, err := c.Chat.Completions.New(context.Background(), p)
		if err != nil {
			t.Fatal(err)
		}
		choice := resp.Choices[0]
		if choice.FinishReason == "length" && len(choice.Message.ToolCalls) == 0 && strings.HasPrefix(choice.Message.Content, "<tool_call>\n{\"name\": \"") {
			t.Logf("prompt %q: the arguments did not close within %d tokens", prompt, resp.Usage.CompletionTokens)
			continue
		}
		if choice.FinishReason != "tool_calls" || len(choice.Message.ToolCalls) != 1 {
			t.Fatalf("prompt %q: want one tool call, got finish %s: %s", prompt, choice.FinishReason, choice.Message.RawJSON())
		}
		call := choice.Message.ToolCalls[0]
		var args map[string]any
		if err := json.Unmarshal([]byte(call.Function.Arguments), &args); err != nil {
			t.Fatalf("prompt %q: arguments %q are not a JSON object: %v", prompt, call.Function.Arguments, err)
		}
		return p, resp
	}
	t.Fatalf("no prompt of %q gave a complete tool call", callPrompts)
	return p, nil
}
