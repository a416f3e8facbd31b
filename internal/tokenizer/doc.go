// Package tokenizer turns text into token ids and back, exactly as the
// Hugging Face tokenizers library does for a tokenizer.json (with its
// tokenizer_config.json) and as llama.cpp does for the vocabulary embedded
// in a GGUF file (tokenizer.ggml.*).
//
// A Tokenizer is built by Load (a GGUF file, a Hugging Face model folder or
// a folder holding only tokenizer.json and tokenizer_config.json),
// FromGGUF or FromJSON. It is safe for concurrent use.
//
// The pipeline follows the Hugging Face one: added tokens are matched in the
// raw text first, the remaining segments are normalized, split by the
// pre-tokenizer and encoded by the model (byte-level BPE, SentencePiece-style
// BPE with byte fallback, or llama.cpp's score-based SentencePiece BPE), and
// the post-processor adds BOS/EOS when asked. The pre-tokenizer split
// patterns of GPT-2, Llama 3 and Qwen 2 are hand-written scanners, since
// Go's regexp has no lookahead; other patterns run on regexp.
package tokenizer
