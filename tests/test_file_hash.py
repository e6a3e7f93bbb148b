"""The one file-hash helper equals hashlib over the whole file, for every algorithm the package uses."""

import hashlib

from tuneshift._io import file_hash


def test_file_hash_equals_hashlib_across_block_boundaries(tmp_path):
    data = bytes(range(256)) * 9000  # 2.2 MiB: three 1 MiB blocks, the last one partial
    path = tmp_path / "blob.bin"
    path.write_bytes(data)
    assert file_hash(path) == hashlib.sha256(data).hexdigest()
    assert file_hash(path, "sha1") == hashlib.sha1(data).hexdigest()
    assert file_hash(path, "blake2b", digest_size=20) == hashlib.blake2b(data, digest_size=20).hexdigest()
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert file_hash(empty) == hashlib.sha256(b"").hexdigest()
