// Checks dpki's checkpoints and proofs with Go's reference implementation (golang.org/x/mod/sumdb
// note and tlog), which nobody on this project wrote.
//
//	sumdb-check inclusion VKEY PROOF_FILE LEAF_FILE
//	sumdb-check consistency VKEY OLD_CHECKPOINT NEW_CHECKPOINT PROOF_FILE (one base64 hash per line)
package main

import (
	"encoding/base64"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	os.Exit(1)
}

func read(path string) []byte {
	b, err := os.ReadFile(path)
	if err != nil {
		fail("read %s: %v", path, err)
	}
	return b
}

func hash(text string) tlog.Hash {
	b, err := base64.StdEncoding.DecodeString(text)
	if err != nil || len(b) != tlog.HashSize {
		fail("bad hash %q", text)
	}
	var h tlog.Hash
	copy(h[:], b)
	return h
}

// openCheckpoint verifies the note's signature and returns its size and root.
func openCheckpoint(verifier note.Verifier, signed []byte) (int64, tlog.Hash) {
	n, err := note.Open(signed, note.VerifierList(verifier))
	if err != nil {
		fail("note: %v", err)
	}
	lines := strings.Split(n.Text, "\n")
	if len(lines) < 4 {
		fail("checkpoint: too few lines")
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil {
		fail("checkpoint size: %v", err)
	}
	return size, hash(lines[2])
}

func main() {
	if len(os.Args) < 3 {
		fail("usage: sumdb-check inclusion|consistency VKEY ...")
	}
	verifier, err := note.NewVerifier(os.Args[2])
	if err != nil {
		fail("verifier key: %v", err)
	}
	switch os.Args[1] {
	case "inclusion":
		text := string(read(os.Args[3]))
		parts := strings.SplitN(text, "\n\n", 2)
		if len(parts) != 2 {
			fail("proof: no blank line")
		}
		head := strings.Split(parts[0], "\n")
		if head[0] != "c2sp.org/tlog-proof@v1" {
			fail("proof: bad header")
		}
		i := 1
		if strings.HasPrefix(head[i], "extra ") {
			i++
		}
		index, err := strconv.ParseInt(strings.TrimPrefix(head[i], "index "), 10, 64)
		if err != nil {
			fail("proof index: %v", err)
		}
		var proof tlog.RecordProof
		for _, line := range head[i+1:] {
			proof = append(proof, hash(line))
		}
		size, root := openCheckpoint(verifier, []byte(parts[1]))
		if err := tlog.CheckRecord(proof, size, root, index, tlog.RecordHash(read(os.Args[4]))); err != nil {
			fail("inclusion: %v", err)
		}
		fmt.Printf("inclusion ok: entry %d in tree of %d\n", index, size)
	case "consistency":
		oldSize, oldRoot := openCheckpoint(verifier, read(os.Args[3]))
		newSize, newRoot := openCheckpoint(verifier, read(os.Args[4]))
		var proof tlog.TreeProof
		for _, line := range strings.Fields(string(read(os.Args[5]))) {
			proof = append(proof, hash(line))
		}
		if err := tlog.CheckTree(proof, newSize, newRoot, oldSize, oldRoot); err != nil {
			fail("consistency: %v", err)
		}
		fmt.Printf("consistency ok: %d -> %d\n", oldSize, newSize)
	default:
		fail("unknown check %s", os.Args[1])
	}
}
