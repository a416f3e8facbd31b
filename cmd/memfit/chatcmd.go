package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"

	"github.com/spf13/cobra"

	"github.com/memfit/memfit/internal/chat"
	"github.com/memfit/memfit/internal/engine"
	"github.com/memfit/memfit/internal/prompt"
	"github.com/memfit/memfit/internal/sample"
)

func init() { rootCmd.AddCommand(newChatCmd()) }

func newChatCmd() *cobra.Command {
	var (
		mf           modelFlags
		gen          genFlags
		chatTemplate string
		system       string
		maxTokens    int
	)
	c := &cobra.Command{
		Use:   "chat [-m MODEL] [--chat-template FILE] [--system TEXT]",
		Short: "Chat with a model in the terminal, with its chat template",
		Long: `chat reads your messages from standard input, one per line, renders the whole
conversation with the model's chat template (or --chat-template FILE) and
streams the reply. The conversation's tokens stay in the KV cache, so each
turn only processes what is new. Type /clear to start over, /bye (or end the
input) to leave; Ctrl-C stops a reply.`,
		Example: `  memfit chat -m ./Qwen3-0.6B
  memfit chat -m model.gguf --system "You are terse." --temp 0.7`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if maxTokens < 0 {
				return usagef("--max-tokens (-n) %d: want 0 (until the context is full) or more", maxTokens)
			}
			params, err := gen.params()
			if err != nil {
				return err
			}
			l, err := loadEngine(&mf, &gen)
			if err != nil {
				return err
			}
			defer l.close()
			tmpl, err := prompt.ForModel(l.path, chatTemplate)
			if err != nil {
				return err
			}
			return chatLoop(cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr(), l, tmpl, system, maxTokens, params)
		},
	}
	mf.registerOptional(c)
	gen.register(c, false)
	c.Flags().StringVar(&chatTemplate, "chat-template", "", "Jinja chat template file (overrides the model's)")
	c.Flags().StringVar(&system, "system", "", "system message")
	c.Flags().IntVarP(&maxTokens, "max-tokens", "n", 0, "most tokens per reply (0 = until the model stops or the context is full)")
	return c
}

func chatLoop(in io.Reader, out, errw io.Writer, l *loaded, tmpl *prompt.Template, system string, maxTokens int, params sample.Params) error {
	var history chat.List
	reset := func() {
		history = history[:0]
		if system != "" {
			history = append(history, message("system", system))
		}
	}
	reset()
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	w := bufio.NewWriter(out)
	for {
		fmt.Fprint(errw, ">>> ")
		if !sc.Scan() {
			fmt.Fprintln(errw)
			return sc.Err()
		}
		line := strings.TrimSpace(sc.Text())
		switch line {
		case "":
			continue
		case "/bye", "/exit", "/quit":
			return nil
		case "/clear":
			reset()
			fmt.Fprintln(errw, "(conversation cleared)")
			continue
		}
		history = append(history, userMessage(line))
		text, err := tmpl.Render(chat.ChatInput{Messages: history, AddGenerationPrompt: true})
		if err != nil {
			return err
		}
		ids := l.tok.Encode(text, false)
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
		params.Seed++
		r, err := l.eng.Generate(ctx, engine.Request{Prompt: ids, MaxTokens: maxTokens, Sampling: params}, func(s string) error {
			w.WriteString(s)
			return w.Flush()
		})
		stop()
		w.WriteString("\n")
		w.Flush()
		if err != nil {
			if ctx.Err() != nil {
				// Ctrl-C: drop the unfinished turn and go on.
				history = history[:len(history)-1]
				fmt.Fprintln(errw, "(stopped)")
				continue
			}
			return err
		}
		if msg := describeFinish(r, maxTokens); msg != "" {
			fmt.Fprintln(errw, "memfit:", msg, "- /clear to start over")
		}
		history = append(history, message("assistant", r.Text))
	}
}
