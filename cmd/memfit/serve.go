package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/memfit/memfit/internal/ledger"
	"github.com/memfit/memfit/internal/prompt"
	"github.com/memfit/memfit/internal/server"
)

func init() { rootCmd.AddCommand(newServeCmd()) }

func newServeCmd() *cobra.Command {
	var (
		mf           modelFlags
		gen          genFlags
		host         string
		port         int
		chatTemplate string
		apiKey       string
		maxBody      string
		maxTokens    int
		alias        string
		drain        time.Duration
	)
	c := &cobra.Command{
		Use:   "serve [-m MODEL] [--host 127.0.0.1] [--port 8080] [--chat-template FILE] [--parallel N]",
		Short: "Serve a model over an OpenAI-compatible HTTP API",
		Long: `serve loads the model and answers the OpenAI API: GET /v1/models,
POST /v1/completions and POST /v1/chat/completions (streamed with
"stream": true, or whole), with GET /health (liveness), GET /ready (readiness)
and GET /metrics (Prometheus). --parallel N sequences are decoded together
(continuous batching); each one's KV cache is reserved inside --mem-budget.
A client that disconnects stops its generation. SIGTERM or Ctrl-C stops
accepting requests, lets running ones finish (up to --drain), and exits.

Request fields left out take the values of the sampling flags. --port 0 picks
a free port; the address is printed on standard error.`,
		Example: `  memfit serve -m ./Qwen3-0.6B --parallel 4
  memfit serve -m model.gguf --chat-template qwen3.jinja --api-key secret --mem-budget 4GiB`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if port < 0 || port > 65535 {
				return usagef("--port %d: want 0 to 65535", port)
			}
			if maxTokens < 0 {
				return usagef("--max-tokens (-n) %d: want 0 (until the context is full) or more", maxTokens)
			}
			body, err := parseSizeFlag("--max-body", maxBody)
			if err != nil {
				return err
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
				if chatTemplate != "" {
					return err
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "memfit: %v; /v1/chat/completions is off\n", err)
				tmpl = nil
			}
			name := l.name
			if alias != "" {
				name = alias
			}
			logger := log.New(cmd.ErrOrStderr(), "memfit: ", log.LstdFlags)
			srv := server.New(server.Config{
				Engine: l.eng, Template: tmpl, Model: name, APIKey: apiKey, MaxBody: body,
				Defaults: params, RandomSeed: gen.seed < 0, MaxTokens: maxTokens,
				Ledger: l.model.Ledger(), Log: logger,
			})
			ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
			if err != nil {
				return fmt.Errorf("serve: %w", err)
			}
			hs := &http.Server{Handler: srv, ReadHeaderTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute, ErrorLog: logger}
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
			defer stop()
			errc := make(chan error, 1)
			go func() { errc <- hs.Serve(ln) }()
			fmt.Fprintf(cmd.ErrOrStderr(), "memfit: serving %s on http://%s (parallel %d, context %d)\n", name, ln.Addr(), l.eng.Options().Parallel, l.eng.Options().Ctx)
			select {
			case err := <-errc:
				return fmt.Errorf("serve: %w", err)
			case <-ctx.Done():
			}
			stop()
			fmt.Fprintln(cmd.ErrOrStderr(), "memfit: draining")
			srv.Drain()
			sctx, cancel := context.WithTimeout(context.Background(), drain)
			defer cancel()
			if err := hs.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
				return fmt.Errorf("serve: shutting down: %w", err)
			}
			hs.Close()
			fmt.Fprintln(cmd.ErrOrStderr(), "memfit: stopped")
			return nil
		},
	}
	mf.registerOptional(c)
	gen.register(c, true)
	fl := c.Flags()
	fl.StringVar(&host, "host", "127.0.0.1", "address to listen on (0.0.0.0 for every interface)")
	fl.IntVar(&port, "port", 8080, "port to listen on (0 picks a free one)")
	fl.StringVar(&chatTemplate, "chat-template", "", "Jinja chat template file (overrides the model's)")
	fl.StringVar(&apiKey, "api-key", "", "require this key as \"Authorization: Bearer KEY\" on /v1")
	fl.StringVar(&maxBody, "max-body", "16MiB", "largest request body; larger ones get 413")
	fl.IntVarP(&maxTokens, "max-tokens", "n", 0, "tokens to generate when a request sets no max_tokens (0 = until the context is full)")
	fl.StringVar(&alias, "alias", "", "model id to serve under (default: the file or folder name)")
	fl.DurationVar(&drain, "drain", 60*time.Second, "how long running requests may take to finish on SIGTERM")
	return c
}

// parseSizeFlag parses a size flag such as --max-body (16MiB, 1G, 4096).
func parseSizeFlag(flag, s string) (int64, error) {
	n, err := ledger.ParseSize(s)
	if err != nil {
		return 0, usagef("%s: %v", flag, err)
	}
	if n <= 0 {
		return 0, usagef("%s %q: want a size above zero", flag, s)
	}
	return n, nil
}
