// Checks dpki's checkpoints and proofs with Go's reference implementation (golang.org/x/mod/sumdb
// note and tlog), which nobody on this project wrote.
//
//	sumdb-check inclusion VKEY PROOF_FILE LEAF_FILE
//	sumdb-check consistency VKEY OLD_CHECKPOINT NEW_CHECKPOINT PROOF_FILE (one base64 hash per line)
//	sumdb-check tiles VKEY PREFIX CA_FILE INDEX... (PREFIX: a tlog-tiles URL or directory; token in DPKI_TOKEN)
package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
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
	case "tiles":
		checkTiles(verifier, os.Args[3], os.Args[4], os.Args[5:])
	default:
		fail("unknown check %s", os.Args[1])
	}
}

// c2spPath is a tile's path in the C2SP tlog-tiles layout: Go's own paths carry the tile height
// (tile/8/L/N) and call entry bundles "data"; C2SP's do neither.
func c2spPath(t tlog.Tile) string {
	p := strings.TrimPrefix(t.Path(), "tile/8/")
	if strings.HasPrefix(p, "data/") {
		p = "entries/" + strings.TrimPrefix(p, "data/")
	}
	return "tile/" + p
}

// getter reads a resource of the log under prefix: over HTTPS trusting caFile, or from a directory.
func getter(prefix, caFile string) func(string) ([]byte, error) {
	if !strings.HasPrefix(prefix, "http://") && !strings.HasPrefix(prefix, "https://") {
		return func(p string) ([]byte, error) { return os.ReadFile(filepath.Join(prefix, p)) }
	}
	pool := x509.NewCertPool()
	if caFile != "-" && !pool.AppendCertsFromPEM(read(caFile)) {
		fail("no certificate in %s", caFile)
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	token := os.Getenv("DPKI_TOKEN")
	return func(p string) ([]byte, error) {
		req, err := http.NewRequest("GET", strings.TrimSuffix(prefix, "/")+"/"+p, nil)
		if err != nil {
			return nil, err
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("GET %s: %s", p, resp.Status)
		}
		return body, err
	}
}

type tileReader struct{ get func(string) ([]byte, error) }

func (r tileReader) Height() int { return 8 }

func (r tileReader) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		data, err := r.get(c2spPath(t))
		if err != nil {
			return nil, err
		}
		out[i] = data
	}
	return out, nil
}

func (r tileReader) SaveTiles([]tlog.Tile, [][]byte) {}

// bundleEntries splits an entry bundle: big-endian uint16 lengths, each followed by its entry.
func bundleEntries(bundle []byte) [][]byte {
	var entries [][]byte
	for len(bundle) > 0 {
		if len(bundle) < 2 {
			fail("bundle: cut length prefix")
		}
		n := int(binary.BigEndian.Uint16(bundle))
		if len(bundle) < 2+n {
			fail("bundle: entry longer than the bundle")
		}
		entries = append(entries, bundle[2:2+n])
		bundle = bundle[2+n:]
	}
	return entries
}

// checkTiles reads the log as a tlog-tiles client: the checkpoint, then every hash through a
// TileHashReader (which authenticates each tile against the signed tree), an inclusion proof
// for each index, and the entry bundles holding them against the level-0 tiles.
func checkTiles(verifier note.Verifier, prefix, caFile string, indexes []string) {
	get := getter(prefix, caFile)
	signed, err := get("checkpoint")
	if err != nil {
		fail("checkpoint: %v", err)
	}
	size, root := openCheckpoint(verifier, signed)
	hr := tlog.TileHashReader(tlog.Tree{N: size, Hash: root}, tileReader{get})
	th, err := tlog.TreeHash(size, hr)
	if err != nil || th != root {
		fail("tree hash from tiles: %v (%v vs %v)", err, th, root)
	}
	for _, arg := range indexes {
		index, err := strconv.ParseInt(arg, 10, 64)
		if err != nil {
			fail("index %s: %v", arg, err)
		}
		proof, err := tlog.ProveRecord(size, index, hr)
		if err != nil {
			fail("prove %d: %v", index, err)
		}
		bundle := tlog.Tile{H: 8, L: -1, N: index / 256, W: 256}
		if bundle.N == size/256 {
			bundle.W = int(size % 256)
		}
		data, err := get(c2spPath(bundle))
		if err != nil {
			fail("bundle: %v", err)
		}
		entries := bundleEntries(data)
		if len(entries) != bundle.W {
			fail("bundle %s holds %d entries", c2spPath(bundle), len(entries))
		}
		if err := tlog.CheckRecord(proof, size, root, index, tlog.RecordHash(entries[index%256])); err != nil {
			fail("inclusion of %d: %v", index, err)
		}
		level0 := tlog.Tile{H: 8, L: 0, N: bundle.N, W: bundle.W}
		hashes, err := tlog.ReadTileData(level0, hr)
		if err != nil {
			fail("tile data: %v", err)
		}
		served, err := get(c2spPath(level0))
		if err != nil || !bytes.Equal(hashes, served) {
			fail("served %s differs from the authenticated hashes: %v", c2spPath(level0), err)
		}
		for k, e := range entries {
			if h := tlog.RecordHash(e); !bytes.Equal(h[:], hashes[k*tlog.HashSize:(k+1)*tlog.HashSize]) {
				fail("entry %d of %s does not hash to its leaf", k, c2spPath(bundle))
			}
		}
	}
	fmt.Printf("tiles ok: tree of %d, %d entries proven\n", size, len(indexes))
}
