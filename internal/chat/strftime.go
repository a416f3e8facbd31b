package chat

import (
	"strconv"
	"strings"
	"time"
)

var (
	dayNames   = []string{"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"}
	monthNames = []string{"January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"}
)

// strftime is Python's datetime.strftime for a naive datetime (the wall
// clock of t) in the C locale, as glibc implements the directives: %Z and
// %z are empty, flags '-' (no padding), '_' (space padding) and '0' work.
func strftime(t time.Time, f string) string {
	var b strings.Builder
	for i := 0; i < len(f); i++ {
		c := f[i]
		if c != '%' || i+1 >= len(f) {
			b.WriteByte(c)
			continue
		}
		start := i
		i++
		var flag byte
		if f[i] == '-' || f[i] == '_' || f[i] == '0' || f[i] == '^' || f[i] == '#' {
			flag = f[i]
			i++
			if i >= len(f) {
				b.WriteString(f[start:])
				break
			}
		}
		num := func(v, width int, padc byte) {
			s := strconv.Itoa(v)
			switch flag {
			case '-':
				b.WriteString(s)
				return
			case '_':
				padc = ' '
			case '0':
				padc = '0'
			}
			for n := len(s); n < width; n++ {
				b.WriteByte(padc)
			}
			b.WriteString(s)
		}
		text := func(s string) {
			if flag == '^' {
				s = strings.ToUpper(s)
			}
			b.WriteString(s)
		}
		hour12 := t.Hour() % 12
		if hour12 == 0 {
			hour12 = 12
		}
		isoYear, isoWeek := t.ISOWeek()
		switch f[i] {
		case 'a':
			text(dayNames[t.Weekday()][:3])
		case 'A':
			text(dayNames[t.Weekday()])
		case 'b', 'h':
			text(monthNames[t.Month()-1][:3])
		case 'B':
			text(monthNames[t.Month()-1])
		case 'c':
			text(strftime(t, "%a %b %e %H:%M:%S %Y"))
		case 'C':
			num(t.Year()/100, 2, '0')
		case 'd':
			num(t.Day(), 2, '0')
		case 'D':
			b.WriteString(strftime(t, "%m/%d/%y"))
		case 'e':
			num(t.Day(), 2, ' ')
		case 'f':
			num(t.Nanosecond()/1000, 6, '0')
		case 'F':
			b.WriteString(strftime(t, "%Y-%m-%d"))
		case 'G':
			num(isoYear, 4, '0')
		case 'g':
			num(isoYear%100, 2, '0')
		case 'H':
			num(t.Hour(), 2, '0')
		case 'I':
			num(hour12, 2, '0')
		case 'j':
			num(t.YearDay(), 3, '0')
		case 'k':
			num(t.Hour(), 2, ' ')
		case 'l':
			num(hour12, 2, ' ')
		case 'm':
			num(int(t.Month()), 2, '0')
		case 'M':
			num(t.Minute(), 2, '0')
		case 'n':
			b.WriteByte('\n')
		case 'p':
			if t.Hour() < 12 {
				text("AM")
			} else {
				text("PM")
			}
		case 'P':
			if t.Hour() < 12 {
				b.WriteString("am")
			} else {
				b.WriteString("pm")
			}
		case 'r':
			b.WriteString(strftime(t, "%I:%M:%S %p"))
		case 'R':
			b.WriteString(strftime(t, "%H:%M"))
		case 's':
			naive := time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), 0, time.Local)
			b.WriteString(strconv.FormatInt(naive.Unix(), 10))
		case 'S':
			num(t.Second(), 2, '0')
		case 't':
			b.WriteByte('\t')
		case 'T':
			b.WriteString(strftime(t, "%H:%M:%S"))
		case 'u':
			wd := int(t.Weekday())
			if wd == 0 {
				wd = 7
			}
			num(wd, 1, '0')
		case 'U':
			num((t.YearDay()+6-int(t.Weekday()))/7, 2, '0')
		case 'V':
			num(isoWeek, 2, '0')
		case 'w':
			num(int(t.Weekday()), 1, '0')
		case 'W':
			num((t.YearDay()+6-(int(t.Weekday())+6)%7)/7, 2, '0')
		case 'x':
			b.WriteString(strftime(t, "%m/%d/%y"))
		case 'X':
			b.WriteString(strftime(t, "%H:%M:%S"))
		case 'y':
			num(t.Year()%100, 2, '0')
		case 'Y':
			num(t.Year(), 1, '0')
		case 'z', 'Z':
			// naive datetime: empty
		case '%':
			b.WriteByte('%')
		default:
			b.WriteString(f[start : i+1])
		}
	}
	return b.String()
}
