package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"

	"github.com/spf13/cobra"

	"github.com/memfit/memfit/internal/chat"
	"github.com/memfit/memfit/internal/engine"
	"github.com/memfit/memfit/internal/prompt"
)

func init() { rootCmd.AddCommand(newRunCmd()) }

// runFlags are the flags of `memfit run`.
type runFlags struct {
	mf           modelFlags
	gen          genFlags
	prompt       string
	maxTokens    int
	chat         bool
	chatTemplate string
	json         bool
	stop         []string
	ignoreEOS    bool
}

func newRunCmd() *cobra.Command {
	var f runFlags
	c := &cobra.Command{
		Use:   "run [-m MODEL] -p TEXT [-n N] [--temp T] [--seed S] [--chat] [--json]",
		Short: "Generate text from a prompt, streaming it as it is produced",
		Long: `run continues the prompt and prints the text as it is generated, after the
prompt itself. With --chat the prompt is a user message, rendered with the
model's chat template (or --chat-template FILE), and only the reply is
printed. With --json nothing is streamed; at the end it prints
{"prompt_ids": [...], "ids": [...], "text": ..., "finish_reason": ...}.

Without -m, run uses the built-in demo model (gocoder, a tiny model trained
on the Go standard library).`,
		Example: `  memfit run -p "func main() {"
  memfit run -m model.gguf -p "Once upon a time" -n 64 --temp 0
  memfit run -m ./Qwen3-0.6B --chat -p "Write a haiku about Go"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRun(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), &f)
		},
	}
	f.mf.registerOptional(c)
	f.gen.register(c, false)
	fl := c.Flags()
	fl.StringVarP(&f.prompt, "prompt", "p", "", "prompt text (required)")
	fl.IntVarP(&f.maxTokens, "max-tokens", "n", 128, "most tokens to generate (0 = until the context is full)")
	fl.BoolVar(&f.chat, "chat", false, "treat the prompt as a user message and apply the chat template")
	fl.StringVar(&f.chatTemplate, "chat-template", "", "Jinja chat template file (overrides the model's)")
	fl.BoolVar(&f.json, "json", false, "print the prompt ids, generated ids and text as JSON at the end")
	fl.StringArrayVar(&f.stop, "stop", nil, "stop string (repeatable)")
	fl.BoolVar(&f.ignoreEOS, "ignore-eos", false, "keep generating past end-of-generation tokens")
	return c
}

func runRun(ctx context.Context, stdout, stderr io.Writer, f *runFlags) error {
	if f.prompt == "" {
		return usagef("--prompt (-p) is required")
	}
	if f.maxTokens < 0 {
		return usagef("--max-tokens (-n) %d: want 0 (until the context is full) or more", f.maxTokens)
	}
	params, err := f.gen.params()
	if err != nil {
		return err
	}
	l, err := loadEngine(&f.mf, &f.gen)
	if err != nil {
		return err
	}
	defer l.close()
	text := f.prompt
	addSpecial := true
	if f.chat {
		tmpl, err := prompt.ForModel(l.path, f.chatTemplate)
		if err != nil {
			return err
		}
		msgs := chat.List{userMessage(f.prompt)}
		if text, err = tmpl.Render(chat.ChatInput{Messages: msgs, AddGenerationPrompt: true}); err != nil {
			return err
		}
		addSpecial = false // the template writes BOS itself, as transformers
	}
	ids := l.tok.Encode(text, addSpecial)
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt)
	defer stop()
	req := engine.Request{Prompt: ids, MaxTokens: f.maxTokens, Sampling: params, Stop: f.stop, IgnoreEOS: f.ignoreEOS}
	w := bufio.NewWriter(stdout)
	var onText func(string) error
	if !f.json {
		if !f.chat {
			w.WriteString(f.prompt)
		}
		onText = func(s string) error {
			w.WriteString(s)
			return w.Flush()
		}
	}
	r, err := l.eng.Generate(ctx, req, onText)
	if err != nil {
		w.Flush()
		return err
	}
	if f.json {
		out, err := json.Marshal(struct {
			PromptIDs []int32     `json:"prompt_ids"`
			IDs       []int32     `json:"ids"`
			Text      string      `json:"text"`
			Finish    string      `json:"finish_reason"`
			Timings   *runTimings `json:"timings"`
		}{ids, r.Tokens, r.Text, r.Finish, timingsOf(r, l)})
		if err != nil {
			return err
		}
		w.Write(out)
	}
	w.WriteString("\n")
	if err := w.Flush(); err != nil {
		return err
	}
	if msg := describeFinish(r, f.maxTokens); msg != "" {
		fmt.Fprintln(stderr, "memfit:", msg)
	}
	return nil
}

// userMessage is {"role": "user", "content": text}.
func userMessage(text string) chat.Value {
	return message("user", text)
}

func message(role, content string) chat.Value {
	d := chat.NewDict()
	d.SetStr("role", chat.Str(role))
	d.SetStr("content", chat.Str(content))
	return d
}

// runTimings are run --json's timings: the prompt (until the first
// generated token), the decode of the rest, and what the layer streamer
// read meanwhile (when weights stream from disk).
type runTimings struct {
	PromptTokens  int     `json:"prompt_tokens"`
	PromptSeconds float64 `json:"prompt_s"`
	DecodeTokens  int     `json:"decode_tokens"` // generated after the first
	DecodeSeconds float64 `json:"decode_s"`
	DecodeTokS    float64 `json:"decode_tok_s"`
	// StreamedBytes is what the streamer read from disk over the run,
	// StreamReadSeconds the time it had reads in flight, and
	// StreamWaitSeconds the time the forward pass waited for a layer.
	StreamedBytes     int64   `json:"streamed_bytes,omitempty"`
	StreamReadSeconds float64 `json:"stream_read_s,omitempty"`
	StreamWaitSeconds float64 `json:"stream_wait_s,omitempty"`
}

func timingsOf(r *engine.Result, l *loaded) *runTimings {
	t := &runTimings{PromptTokens: r.PromptTokens, PromptSeconds: (r.FirstToken - r.Queued).Seconds()}
	if n := len(r.Tokens) - 1; n > 0 {
		t.DecodeTokens = n
		t.DecodeSeconds = (r.Total - r.FirstToken).Seconds()
		t.DecodeTokS = float64(n) / t.DecodeSeconds
	}
	if s := l.model.Streamer(); s != nil {
		st := s.Stats()
		t.StreamedBytes, t.StreamReadSeconds, t.StreamWaitSeconds = st.BytesRead, st.ReadBusy.Seconds(), st.Waited.Seconds()
	}
	return t
}
