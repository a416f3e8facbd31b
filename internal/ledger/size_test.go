package ledger

import "testing"

func TestParseSize(t *testing.T) {
	good := []struct {
		in   string
		want int64
	}{
		{"350MiB", 350 << 20}, {"3GiB", 3 << 30}, {"8G", 8 << 30}, {"8g", 8 << 30},
		{"1.5GB", 1_500_000_000}, {"1048576", 1 << 20}, {"512 MiB", 512 << 20},
		{"100kB", 100_000}, {"2T", 2 << 40}, {"64b", 64}, {"0.5GiB", 1 << 29},
	}
	for _, tt := range good {
		got, err := ParseSize(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "MiB", "3XB", "-1G", "1e9", "0", "0.1", "99999999999T", "1.2.3G", "G8"} {
		if got, err := ParseSize(bad); err == nil {
			t.Errorf("ParseSize(%q) = %d, want an error", bad, got)
		}
	}
}

func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"350MiB", "8G", "1.5GB", "x", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if n, err := ParseSize(s); err == nil && n < 1 {
			t.Fatalf("ParseSize(%q) = %d with no error", s, n)
		}
	})
}
