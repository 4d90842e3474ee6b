// Command harness times whole processes for bench/run: it runs a command
// several times and prints the median wall time and the peak resident set
// size (the kernel's getrusage ru_maxrss of each child), so the suite needs
// no /usr/bin/time. It is part of the benchmark suite, not of oauthform.
//
//	harness [-runs K] [-warmup W] [-dir D] [-expect-exit 0,2] [-expect TEXT] [-log FILE] -- CMD ARGS...
//	    prints: median_ms=… min_ms=… max_ms=… maxrss_mb=… runs=K
//	harness fit N:VALUE N:VALUE...
//	    prints the least-squares slope of log(VALUE) against log(N)
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "fit" {
		fit(os.Args[2:])
		return
	}
	fs := flag.NewFlagSet("harness", flag.ExitOnError)
	runs := fs.Int("runs", 5, "measured runs")
	warmup := fs.Int("warmup", 1, "unmeasured runs first")
	dir := fs.String("dir", "", "working directory")
	expectExit := fs.String("expect-exit", "0", "comma-separated exit statuses that count as success")
	expect := fs.String("expect", "", "text every run's output must contain")
	logFile := fs.String("log", "", "file to write the last run's output to")
	_ = fs.Parse(os.Args[1:])
	argv := fs.Args()
	if len(argv) == 0 || *runs < 1 {
		fatalf("usage: harness [-runs K] [-warmup W] [-dir D] [-expect-exit L] [-expect TEXT] [-log FILE] -- CMD ARGS...")
	}
	okExit := map[int]bool{}
	for _, s := range strings.Split(*expectExit, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			fatalf("bad -expect-exit %q", *expectExit)
		}
		okExit[n] = true
	}
	var walls []time.Duration
	var maxRSS int64 // KiB
	for i := range *warmup + *runs {
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Dir = *dir
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		start := time.Now()
		err := cmd.Run()
		wall := time.Since(start)
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			fatalf("running %s: %v", argv[0], err)
		}
		if *logFile != "" {
			_ = os.WriteFile(*logFile, out.Bytes(), 0o644)
		}
		if code := cmd.ProcessState.ExitCode(); !okExit[code] {
			fatalf("%s exited %d (want %s):\n%s", strings.Join(argv, " "), code, *expectExit, tail(out.String()))
		}
		if *expect != "" && !strings.Contains(out.String(), *expect) {
			fatalf("%s: output lacks %q:\n%s", strings.Join(argv, " "), *expect, tail(out.String()))
		}
		if i < *warmup {
			continue
		}
		walls = append(walls, wall)
		maxRSS = max(maxRSS, rssKiB(cmd.ProcessState))
	}
	slices.Sort(walls)
	fmt.Printf("median_ms=%.1f min_ms=%.1f max_ms=%.1f maxrss_mb=%.1f runs=%d\n",
		ms(median(walls)), ms(walls[0]), ms(walls[len(walls)-1]), float64(maxRSS)/1024, len(walls))
}

func median(d []time.Duration) time.Duration {
	n := len(d)
	if n%2 == 1 {
		return d[n/2]
	}
	return (d[n/2-1] + d[n/2]) / 2
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// tail returns the last lines of a command's output, for errors.
func tail(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > 30 {
		lines = lines[len(lines)-30:]
	}
	return strings.Join(lines, "\n")
}

// fit prints the slope of log(value) against log(n).
func fit(args []string) {
	var xs, ys []float64
	for _, a := range args {
		n, v, ok := strings.Cut(a, ":")
		x, err1 := strconv.ParseFloat(n, 64)
		y, err2 := strconv.ParseFloat(v, 64)
		if !ok || err1 != nil || err2 != nil || x <= 0 || y <= 0 {
			fatalf("fit: bad point %q (want N:VALUE, both positive)", a)
		}
		xs, ys = append(xs, math.Log(x)), append(ys, math.Log(y))
	}
	if len(xs) < 2 {
		fmt.Println("n/a")
		return
	}
	var mx, my float64
	for i := range xs {
		mx, my = mx+xs[i], my+ys[i]
	}
	mx, my = mx/float64(len(xs)), my/float64(len(xs))
	var num, den float64
	for i := range xs {
		num += (xs[i] - mx) * (ys[i] - my)
		den += (xs[i] - mx) * (xs[i] - mx)
	}
	if den == 0 {
		fmt.Println("n/a")
		return
	}
	fmt.Printf("%.2f\n", num/den)
}

func fatalf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "harness: "+format+"\n", a...)
	os.Exit(1)
}
