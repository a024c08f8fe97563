using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace HepDb.Security;

/// <summary>
/// Streaming encryption at rest for large files (database backups): AES-256-GCM in chunks of 1 MiB plaintext, with a
/// key from the <see cref="SecretBox"/> keyring, so a file of any size is sealed and opened in constant memory and
/// every chunk is authenticated before its plaintext is handed out.
/// <para>Format (all integers big-endian):</para>
/// <code>
/// header : "HEPDBSE1" (8 bytes) | key id length (1 byte, 1..255) | key id (UTF-8) | salt (16 random bytes)
/// chunk  : plaintext length (4 bytes) | GCM tag (16 bytes) | ciphertext (same length as the plaintext)
/// </code>
/// <para>
/// Every chunk but the last holds exactly <see cref="ChunkSize"/> bytes; the last one holds fewer (possibly none: a
/// plaintext whose length is a multiple of the chunk size ends with an empty chunk), which is how a reader knows it
/// is the last. Each file is sealed with its own subkey, HKDF-SHA256(ikm: the keyring key named in the header, salt:
/// the header's salt, info: "HepDb.SealedStream.v1"); chunk <c>i</c> (from 0) uses the 96-bit nonce
/// <c>0x00000000 | i</c> (8 bytes) under that subkey, so nonces never repeat under one key. The associated data of
/// every chunk is <c>UTF-8(context) | i (8 bytes) | final (1 byte: 1 for the last chunk, else 0)</c>.
/// </para>
/// <para>
/// So a changed byte anywhere, chunks reordered, dropped or taken from another file, a file opened under another
/// context (the caller passes, for example, the backup id: a file copied onto another record does not open), a file
/// cut after any chunk, and bytes after the last chunk are all refused with a <see cref="CryptographicException"/>.
/// A reader gets each chunk's plaintext as soon as that chunk is verified: a consumer must treat an exception, even
/// after it has read data, as the failure of the whole file (a restore stops and is rolled back).
/// </para>
/// </summary>
public static class SealedStream
{
    /// <summary>Plaintext bytes per chunk.</summary>
    public const int ChunkSize = 1 << 20;

    private const int SaltSize = 16;
    private const int TagSize = 16;
    private const int NonceSize = 12;
    private const int ChunkHeaderSize = 4 + TagSize;
    private const int MagicSize = 8;
    private const int MaxKeyIdBytes = 255;

    private static ReadOnlySpan<byte> Magic => "HEPDBSE1"u8;
    private static ReadOnlySpan<byte> KdfInfo => "HepDb.SealedStream.v1"u8;

    /// <summary>
    /// A write-only stream that seals what is written to it into <paramref name="destination"/> with the keyring's
    /// active key (<see cref="SecretBox.ActiveKeyId"/>, recorded in the header). Disposing it writes the last chunk:
    /// until then the output is incomplete and does not open. A caller that fails half-way must discard the
    /// destination rather than keep what disposing completes (once a write to the destination has failed, nothing more
    /// is written to it, so such an output stays incomplete). <see cref="Stream.Flush()"/> flushes the destination
    /// but not a partly filled chunk.
    /// </summary>
    /// <param name="context">Bound to every chunk (e.g. the backup id); the same value must be given to <see cref="Decrypt"/>.</param>
    public static Stream Encrypt(Stream destination, SecretBox keys, string context, bool leaveOpen = false)
    {
        ArgumentNullException.ThrowIfNull(destination);
        ArgumentNullException.ThrowIfNull(keys);
        ArgumentNullException.ThrowIfNull(context);
        if (!destination.CanWrite)
            throw new ArgumentException("The destination is not writable.", nameof(destination));
        var keyId = Encoding.UTF8.GetBytes(keys.ActiveKeyId);
        if (keyId.Length is 0 or > MaxKeyIdBytes)
            throw new ArgumentException($"The key id must be 1 to {MaxKeyIdBytes} bytes in UTF-8.", nameof(keys));

        var header = new byte[MagicSize + 1 + keyId.Length + SaltSize];
        Magic.CopyTo(header);
        header[MagicSize] = (byte)keyId.Length;
        keyId.CopyTo(header.AsSpan(MagicSize + 1));
        RandomNumberGenerator.Fill(header.AsSpan(header.Length - SaltSize));
        return new Encryptor(destination, leaveOpen, keys.KeyFor(keys.ActiveKeyId), AssociatedData(context), header);
    }

    /// <summary>
    /// A read-only stream of the plaintext sealed in <paramref name="source"/> (read from its current position). The
    /// key is the keyring's key with the id in the header, so files sealed before a key rotation still open while the
    /// old key stays in the keyring. Reads throw <see cref="CryptographicException"/> for an unknown key id, any
    /// tampering, a wrong <paramref name="context"/>, a file that ends without its last chunk and data after it.
    /// </summary>
    public static Stream Decrypt(Stream source, SecretBox keys, string context, bool leaveOpen = false)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(keys);
        ArgumentNullException.ThrowIfNull(context);
        if (!source.CanRead)
            throw new ArgumentException("The source is not readable.", nameof(source));
        return new Decryptor(source, leaveOpen, keys, AssociatedData(context));
    }

    /// <summary>The id of the key <paramref name="source"/> was sealed with, read from its header (which this consumes:
    /// seek back or reopen the source before <see cref="Decrypt"/>). Throws <see cref="CryptographicException"/> when the
    /// source is not a sealed stream.</summary>
    public static string ReadKeyId(Stream source)
    {
        ArgumentNullException.ThrowIfNull(source);
        Span<byte> head = stackalloc byte[MagicSize + 1];
        ReadHeaderExactly(source.ReadAtLeast(head, head.Length, throwOnEndOfStream: false), head.Length);
        var idLength = ParseHeaderStart(head);
        Span<byte> rest = stackalloc byte[idLength + SaltSize];
        ReadHeaderExactly(source.ReadAtLeast(rest, rest.Length, throwOnEndOfStream: false), rest.Length);
        return Encoding.UTF8.GetString(rest[..idLength]);
    }

    private static int ParseHeaderStart(ReadOnlySpan<byte> head)
    {
        if (!head[..MagicSize].SequenceEqual(Magic))
            throw new CryptographicException("Not a HepDb sealed stream (or an unsupported version).");
        var idLength = head[MagicSize];
        return idLength == 0 ? throw new CryptographicException("Not a HepDb sealed stream: empty key id.") : idLength;
    }

    private static void ReadHeaderExactly(int read, int wanted)
    {
        if (read < wanted)
            throw new CryptographicException("Not a HepDb sealed stream: the header is truncated.");
    }

    private static AesGcm CreateCipher(byte[] key, ReadOnlySpan<byte> salt)
    {
        Span<byte> subkey = stackalloc byte[32];
        try
        {
            HKDF.DeriveKey(HashAlgorithmName.SHA256, key, subkey, salt, KdfInfo);
            return new AesGcm(subkey, TagSize);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(subkey);
        }
    }

    /// <summary>UTF-8(context) followed by room for the chunk index (8 bytes) and the final flag (1 byte).</summary>
    private static byte[] AssociatedData(string context)
    {
        var length = Encoding.UTF8.GetByteCount(context);
        var aad = new byte[length + 9];
        Encoding.UTF8.GetBytes(context, aad);
        return aad;
    }

    /// <summary>Fills in the nonce and the associated data of chunk <paramref name="index"/>.</summary>
    private static void PrepareChunk(byte[] nonce, byte[] aad, long index, bool final)
    {
        BinaryPrimitives.WriteInt64BigEndian(nonce.AsSpan(4), index);
        BinaryPrimitives.WriteInt64BigEndian(aad.AsSpan(aad.Length - 9), index);
        aad[^1] = final ? (byte)1 : (byte)0;
    }

    /// <param name="header">The file header, ending with the salt.</param>
    private sealed class Encryptor(Stream destination, bool leaveOpen, byte[] key, byte[] aad, byte[] header) : Stream
    {
        private readonly AesGcm _aes = CreateCipher(key, header.AsSpan(header.Length - SaltSize));
        // One buffer holds a whole sealed chunk: length | tag | data, sealed in place and written with one call.
        private readonly byte[] _chunk = new byte[ChunkHeaderSize + ChunkSize];
        private readonly byte[] _nonce = new byte[NonceSize];
        private byte[]? _header = header;
        private int _count;
        private bool _alreadySealed;
        private long _index;
        private bool _failed;
        private bool _disposed;

        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => !_disposed;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Flush()
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            destination.Flush();
        }

        public override Task FlushAsync(CancellationToken cancellationToken)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return destination.FlushAsync(cancellationToken);
        }

        public override void Write(byte[] buffer, int offset, int count)
        {
            ValidateBufferArguments(buffer, offset, count);
            Write(buffer.AsSpan(offset, count));
        }

        public override void WriteByte(byte value) => Write([value]);

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            while (buffer.Length > 0)
            {
                var taken = Fill(buffer);
                buffer = buffer[taken..];
                if (_count == ChunkSize)
                    WriteChunk(Seal(final: false));
            }
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        {
            ValidateBufferArguments(buffer, offset, count);
            return WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();
        }

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            while (buffer.Length > 0)
            {
                var taken = Fill(buffer.Span);
                buffer = buffer[taken..];
                if (_count == ChunkSize)
                    await WriteChunkAsync(Seal(final: false), cancellationToken);
            }
        }

        /// <summary>Takes what fits of <paramref name="data"/> into the current chunk. A whole chunk arriving while the
        /// buffer is empty is sealed straight from the caller's memory, saving a copy.</summary>
        private int Fill(ReadOnlySpan<byte> data)
        {
            if (_count == 0 && data.Length >= ChunkSize)
            {
                var plain = data[..ChunkSize];
                PrepareChunk(_nonce, aad, _index, final: false);
                _aes.Encrypt(_nonce, plain, _chunk.AsSpan(ChunkHeaderSize, ChunkSize), _chunk.AsSpan(4, TagSize), aad);
                _count = ChunkSize;
                _alreadySealed = true;
                return ChunkSize;
            }
            var n = Math.Min(data.Length, ChunkSize - _count);
            data[..n].CopyTo(_chunk.AsSpan(ChunkHeaderSize + _count));
            _count += n;
            return n;
        }

        /// <summary>Seals the buffered chunk in place; returns the number of bytes to write. Only the last chunk is
        /// shorter than <see cref="ChunkSize"/>, and a full chunk is sealed as soon as it fills, so the last one never is.</summary>
        private int Seal(bool final)
        {
            var length = _count;
            BinaryPrimitives.WriteInt32BigEndian(_chunk, length);
            if (_alreadySealed)
                _alreadySealed = false;
            else
            {
                PrepareChunk(_nonce, aad, _index, final);
                var data = _chunk.AsSpan(ChunkHeaderSize, length);
                _aes.Encrypt(_nonce, data, data, _chunk.AsSpan(4, TagSize), aad);
            }
            _index++;
            _count = 0;
            return ChunkHeaderSize + length;
        }

        // A write that failed (or was cancelled) leaves the output short of a chunk: from then on nothing more is
        // written, not even the last chunk on disposal, so the output never looks complete.
        private void WriteChunk(int length)
        {
            if (_failed)
                throw new IOException("Sealed stream: an earlier write failed.");
            _failed = true;
            if (_header is { } h)
            {
                destination.Write(h);
                _header = null;
            }
            destination.Write(_chunk, 0, length);
            _failed = false;
        }

        private async ValueTask WriteChunkAsync(int length, CancellationToken ct)
        {
            if (_failed)
                throw new IOException("Sealed stream: an earlier write failed.");
            _failed = true;
            if (_header is { } h)
            {
                await destination.WriteAsync(h, ct);
                _header = null;
            }
            await destination.WriteAsync(_chunk.AsMemory(0, length), ct);
            _failed = false;
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing && !_disposed)
            {
                _disposed = true;
                try
                {
                    if (!_failed)
                    {
                        WriteChunk(Seal(final: true));
                        if (leaveOpen)
                            destination.Flush();
                    }
                }
                finally
                {
                    _aes.Dispose();
                    if (!leaveOpen)
                        destination.Dispose();
                }
            }
            base.Dispose(disposing);
        }

        public override async ValueTask DisposeAsync()
        {
            if (!_disposed)
            {
                _disposed = true;
                try
                {
                    if (!_failed)
                    {
                        await WriteChunkAsync(Seal(final: true), CancellationToken.None);
                        if (leaveOpen)
                            await destination.FlushAsync(CancellationToken.None);
                    }
                }
                finally
                {
                    _aes.Dispose();
                    if (!leaveOpen)
                        await destination.DisposeAsync();
                }
            }
            await base.DisposeAsync();
        }
    }

    private sealed class Decryptor(Stream source, bool leaveOpen, SecretBox keys, byte[] aad) : Stream
    {
        private readonly byte[] _chunk = new byte[ChunkHeaderSize + ChunkSize];
        private readonly byte[] _nonce = new byte[NonceSize];
        private AesGcm? _aes;
        private int _position;
        private int _length;
        private long _index;
        private bool _finished;
        private bool _failed;
        private bool _disposed;

        public override bool CanRead => !_disposed;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override int Read(byte[] buffer, int offset, int count)
        {
            ValidateBufferArguments(buffer, offset, count);
            return Read(buffer.AsSpan(offset, count));
        }

        public override int ReadByte()
        {
            Span<byte> one = stackalloc byte[1];
            return Read(one) == 0 ? -1 : one[0];
        }

        public override int Read(Span<byte> buffer)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (buffer.IsEmpty)
                return 0;
            while (_position == _length)
            {
                if (_finished)
                    return 0;
                ReadChunk();
            }
            return Take(buffer);
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        {
            ValidateBufferArguments(buffer, offset, count);
            return ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();
        }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (buffer.IsEmpty)
                return 0;
            while (_position == _length)
            {
                if (_finished)
                    return 0;
                await ReadChunkAsync(cancellationToken);
            }
            return Take(buffer.Span);
        }

        /// <summary>Writes whole verified chunks to <paramref name="destination"/> without an intermediate buffer.</summary>
        public override void CopyTo(Stream destination, int bufferSize)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            while (true)
            {
                if (_position < _length)
                    destination.Write(_chunk, ChunkHeaderSize + _position, _length - _position);
                _position = _length;
                if (_finished)
                    return;
                ReadChunk();
            }
        }

        public override async Task CopyToAsync(Stream destination, int bufferSize, CancellationToken cancellationToken)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            while (true)
            {
                if (_position < _length)
                    await destination.WriteAsync(_chunk.AsMemory(ChunkHeaderSize + _position, _length - _position), cancellationToken);
                _position = _length;
                if (_finished)
                    return;
                await ReadChunkAsync(cancellationToken);
            }
        }

        private int Take(Span<byte> buffer)
        {
            var n = Math.Min(buffer.Length, _length - _position);
            _chunk.AsSpan(ChunkHeaderSize + _position, n).CopyTo(buffer);
            _position += n;
            return n;
        }

        private void ReadChunk()
        {
            Begin();
            if (_aes is null)
            {
                var head = _chunk.AsSpan(0, MagicSize + 1);
                ReadHeaderExactly(source.ReadAtLeast(head, head.Length, throwOnEndOfStream: false), head.Length);
                var rest = _chunk.AsSpan(0, ParseHeaderStart(head) + SaltSize);
                ReadHeaderExactly(source.ReadAtLeast(rest, rest.Length, throwOnEndOfStream: false), rest.Length);
                StartCipher(rest);
            }
            var header = _chunk.AsSpan(0, ChunkHeaderSize);
            var length = ChunkLength(source.ReadAtLeast(header, header.Length, throwOnEndOfStream: false));
            var data = _chunk.AsSpan(ChunkHeaderSize, length);
            CheckComplete(source.ReadAtLeast(data, length, throwOnEndOfStream: false), length);
            var final = Open(length);
            if (final)
                CheckNothingAfter(source.Read(_chunk, 0, 1)); // the chunk header is not needed any more
            Opened(length, final);
        }

        private async ValueTask ReadChunkAsync(CancellationToken ct)
        {
            Begin();
            if (_aes is null)
            {
                var head = _chunk.AsMemory(0, MagicSize + 1);
                ReadHeaderExactly(await source.ReadAtLeastAsync(head, head.Length, throwOnEndOfStream: false, ct), head.Length);
                var rest = _chunk.AsMemory(0, ParseHeaderStart(head.Span) + SaltSize);
                ReadHeaderExactly(await source.ReadAtLeastAsync(rest, rest.Length, throwOnEndOfStream: false, ct), rest.Length);
                StartCipher(rest.Span);
            }
            var header = _chunk.AsMemory(0, ChunkHeaderSize);
            var length = ChunkLength(await source.ReadAtLeastAsync(header, header.Length, throwOnEndOfStream: false, ct));
            var data = _chunk.AsMemory(ChunkHeaderSize, length);
            CheckComplete(await source.ReadAtLeastAsync(data, length, throwOnEndOfStream: false, ct), length);
            var final = Open(length);
            if (final)
                CheckNothingAfter(await source.ReadAsync(_chunk.AsMemory(0, 1), ct)); // the chunk header is not needed any more
            Opened(length, final);
        }

        /// <summary>A chunk that failed leaves the source mid-chunk: the stream stays failed rather than read on from there.</summary>
        private void Begin()
        {
            if (_failed)
                throw new CryptographicException("Sealed stream: an earlier chunk failed to open.");
            _failed = true;
        }

        /// <summary>Picks the key named in the header (<paramref name="idAndSalt"/> = key id | salt).</summary>
        private void StartCipher(ReadOnlySpan<byte> idAndSalt)
        {
            var keyId = Encoding.UTF8.GetString(idAndSalt[..^SaltSize]);
            _aes = CreateCipher(keys.KeyFor(keyId), idAndSalt[^SaltSize..]);
        }

        private int ChunkLength(int read)
        {
            // The stream ending where a chunk should start means the last chunk is missing: a truncated file.
            CheckComplete(read, ChunkHeaderSize);
            var length = BinaryPrimitives.ReadInt32BigEndian(_chunk);
            if (length is < 0 or > ChunkSize)
                throw new CryptographicException("Sealed stream: invalid chunk length.");
            return length;
        }

        private static void CheckComplete(int read, int wanted)
        {
            if (read < wanted)
                throw new CryptographicException("Sealed stream: truncated (it ends before its last chunk).");
        }

        private static void CheckNothingAfter(int read)
        {
            if (read != 0)
                throw new CryptographicException("Sealed stream: data after the last chunk.");
        }

        /// <summary>Verifies and decrypts the chunk in place; returns whether it is the last one.</summary>
        private bool Open(int length)
        {
            var final = length < ChunkSize;
            PrepareChunk(_nonce, aad, _index, final);
            var data = _chunk.AsSpan(ChunkHeaderSize, length);
            _aes!.Decrypt(_nonce, data, _chunk.AsSpan(4, TagSize), data, aad);
            return final;
        }

        private void Opened(int length, bool final)
        {
            _position = 0;
            _length = length;
            _index++;
            _finished = final;
            _failed = false;
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing && !_disposed)
            {
                _disposed = true;
                _aes?.Dispose();
                if (!leaveOpen)
                    source.Dispose();
            }
            base.Dispose(disposing);
        }

        public override async ValueTask DisposeAsync()
        {
            if (!_disposed)
            {
                _disposed = true;
                _aes?.Dispose();
                if (!leaveOpen)
                    await source.DisposeAsync();
            }
            await base.DisposeAsync();
        }
    }
}
