// Package durable writes files so that a crash leaves either the old
// content or the new, never half of it, and so that a write reported done
// survives a power failure: WriteFile (temporary file, fsync, rename,
// directory sync) and SyncDir (after creating, renaming or removing a file
// in a directory).
//
// # Caveats
//
// The guarantees are those of the file system's fsync: on a file system
// or disk that acknowledges writes it has not stored, nothing here helps.
// WriteFile holds the whole content in memory.
package durable

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// WriteFile writes data to path through a temporary file, fsync and a
// rename, then syncs the directory, so a crash leaves either the old file or
// the new one, never half of one, and a success is durable. The file
// gets mode perm from the start (a key is never readable by others, not even
// briefly). Without overwrite, an existing path is an error. Its other
// errors name path (not only the temporary file).
func WriteFile(path string, data []byte, perm os.FileMode, overwrite bool) error {
	if !overwrite {
		if _, err := os.Lstat(path); err == nil {
			return fmt.Errorf("%s already exists: refusing to overwrite it", path)
		} else if !errors.Is(err, os.ErrNotExist) {
			return err // a *PathError naming path
		}
	}
	if err := writeFile(path, data, perm); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func writeFile(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	return SyncDir(dir) // the rename is durable once the directory is
}

// SyncDir makes the entries of dir (a file created, renamed or removed in
// it) durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
