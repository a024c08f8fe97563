using System.Security.Cryptography;
using System.Text;
using HepDb.Security;

namespace HepDb.Tests.Unit;

/// <summary>The stream cipher backups are sealed with: sizes around the chunk boundary, pieces of any size, and every
/// way a stored file can be altered (a byte, a chunk dropped, moved or added, the file moved to another record, a
/// key this replica does not have).</summary>
public sealed class SealedStreamTests
{
    private const int Chunk = SealedStream.ChunkSize;
    private const int ChunkHeader = 4 + 16;

    private static readonly byte[] KeyA = RandomNumberGenerator.GetBytes(32);
    private static readonly byte[] KeyB = RandomNumberGenerator.GetBytes(32);
    private static readonly SecretBox BoxA = new(new Dictionary<string, byte[]> { ["kA"] = KeyA }, "kA");

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static byte[] Plain(int size, int seed = 1)
    {
        var data = new byte[size];
        new Random(seed).NextBytes(data);
        return data;
    }

    /// <summary>Seals <paramref name="plain"/> in pieces of random sizes (up to three chunks at a time).</summary>
    private static async Task<byte[]> SealAsync(byte[] plain, SecretBox keys, string context, bool async, int seed = 7)
    {
        var random = new Random(seed);
        using var output = new MemoryStream();
        var sealer = SealedStream.Encrypt(output, keys, context, leaveOpen: true);
        var offset = 0;
        while (offset < plain.Length)
        {
            var n = Math.Min(plain.Length - offset, random.Next(4) switch { 0 => 1, 1 => random.Next(1, 5000), 2 => random.Next(1, Chunk + 2), _ => random.Next(1, 3 * Chunk) });
            if (async)
                await sealer.WriteAsync(plain.AsMemory(offset, n), Ct);
            else
                sealer.Write(plain, offset, n);
            offset += n;
        }
        if (async)
            await sealer.DisposeAsync();
        else
            sealer.Dispose();
        return output.ToArray();
    }

    /// <summary>Opens <paramref name="sealedBytes"/> reading pieces of random sizes.</summary>
    private static async Task<byte[]> OpenAsync(byte[] sealedBytes, SecretBox keys, string context, bool async = true, int seed = 11)
    {
        var random = new Random(seed);
        using var output = new MemoryStream();
        await using var opener = SealedStream.Decrypt(new MemoryStream(sealedBytes), keys, context);
        var buffer = new byte[3 * Chunk];
        while (true)
        {
            var want = random.Next(3) switch { 0 => 1, 1 => random.Next(1, 70_000), _ => random.Next(1, buffer.Length) };
            var n = async ? await opener.ReadAsync(buffer.AsMemory(0, want), Ct) : opener.Read(buffer, 0, want);
            if (n == 0)
                break;
            output.Write(buffer, 0, n);
        }
        return output.ToArray();
    }

    private static void AssertSame(byte[] expected, byte[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        Assert.True(expected.AsSpan().SequenceEqual(actual), "the plaintext differs");
    }

    private static Task AssertRefusedAsync(byte[] sealedBytes, SecretBox keys, string context) =>
        Assert.ThrowsAnyAsync<CryptographicException>(() => OpenAsync(sealedBytes, keys, context));

    [Theory]
    [InlineData(0, true)]
    [InlineData(1, false)]
    [InlineData(Chunk - 1, true)]
    [InlineData(Chunk, false)]
    [InlineData(Chunk, true)]
    [InlineData(Chunk + 1, true)]
    [InlineData(2 * Chunk, true)]
    [InlineData(5 * Chunk + 12_345, true)]
    [InlineData(5 * Chunk + 12_345, false)]
    public async Task Whatever_the_size_and_the_pieces_the_plaintext_comes_back(int size, bool async)
    {
        var plain = Plain(size);
        var sealedBytes = await SealAsync(plain, BoxA, "backup-1", async);

        // Header (8 + 1 + 2 + 16), then full chunks, then a shorter last chunk (empty after a whole number of chunks).
        Assert.Equal(27 + size + (size / Chunk + 1) * ChunkHeader, sealedBytes.Length);
        AssertSame(plain, await OpenAsync(sealedBytes, BoxA, "backup-1", async));
        AssertSame(plain, await OpenAsync(sealedBytes, BoxA, "backup-1", async, seed: 99));

        // Copying out whole chunks gives the same bytes.
        using var copy = new MemoryStream();
        await using (var opener = SealedStream.Decrypt(new MemoryStream(sealedBytes), BoxA, "backup-1"))
            await opener.CopyToAsync(copy, Ct);
        AssertSame(plain, copy.ToArray());
    }

    [Fact]
    public async Task The_same_plaintext_seals_differently_each_time_and_never_in_the_clear()
    {
        var plain = Encoding.UTF8.GetBytes(string.Concat(Enumerable.Repeat("INSERT INTO customers VALUES ('secret-row');\n", 60_000)));
        var first = await SealAsync(plain, BoxA, "backup-1", async: true);
        var second = await SealAsync(plain, BoxA, "backup-1", async: true);
        Assert.False(first.AsSpan().SequenceEqual(second));
        Assert.Equal(-1, first.AsSpan().IndexOf("secret-row"u8));
        Assert.Equal(-1, first.AsSpan().IndexOf("INSERT INTO"u8));
        Assert.Equal("kA", SealedStream.ReadKeyId(new MemoryStream(first)));
        AssertSame(plain, await OpenAsync(first, BoxA, "backup-1"));
    }

    [Fact]
    public async Task A_file_opens_only_under_its_own_context()
    {
        var sealedBytes = await SealAsync(Plain(Chunk + 10), BoxA, "backup-1", async: true);
        await AssertRefusedAsync(sealedBytes, BoxA, "backup-2");
        await AssertRefusedAsync(sealedBytes, BoxA, "");
        await AssertRefusedAsync(await SealAsync(Plain(0), BoxA, "backup-1", async: true), BoxA, "backup-2");
    }

    [Fact]
    public async Task Any_changed_byte_is_refused()
    {
        var plain = Plain(Chunk + 300);
        var sealedBytes = await SealAsync(plain, BoxA, "backup-1", async: true);
        const int header = 27;
        var positions = new HashSet<int>();
        for (var i = 0; i < header + ChunkHeader; i++)
            positions.Add(i); // the header, the first chunk's length and tag
        var random = new Random(3);
        for (var i = 0; i < 40; i++)
            positions.Add(random.Next(header + ChunkHeader, header + ChunkHeader + Chunk)); // the first chunk's ciphertext
        positions.Add(header + ChunkHeader + Chunk - 1);
        for (var i = header + ChunkHeader + Chunk; i < sealedBytes.Length; i++)
            positions.Add(i); // the whole last chunk

        foreach (var position in positions)
        {
            var altered = (byte[])sealedBytes.Clone();
            altered[position] ^= (byte)(1 << (position % 8));
            await AssertRefusedAsync(altered, BoxA, "backup-1");
        }
        AssertSame(plain, await OpenAsync(sealedBytes, BoxA, "backup-1"));
    }

    [Theory]
    [InlineData(2 * Chunk + 10)]
    [InlineData(2 * Chunk)] // the last chunk is the empty one
    public async Task A_file_cut_short_anywhere_is_refused(int size)
    {
        var sealedBytes = await SealAsync(Plain(size), BoxA, "backup-1", async: true);
        const int header = 27;
        var boundaries = new[] { header, header + ChunkHeader + Chunk, header + 2 * (ChunkHeader + Chunk) };
        foreach (var length in boundaries.Concat([0, 5, header - 1, header + 3, header + ChunkHeader + 17, sealedBytes.Length - 1]))
            await AssertRefusedAsync(sealedBytes[..length], BoxA, "backup-1");

        // Dropping the last chunk at a boundary is refused even though every chunk left is intact and was handed out.
        var opener = SealedStream.Decrypt(new MemoryStream(sealedBytes[..boundaries[2]]), BoxA, "backup-1");
        var buffer = new byte[Chunk];
        Assert.Equal(Chunk, await opener.ReadAtLeastAsync(buffer, Chunk, cancellationToken: Ct));
        Assert.Equal(Chunk, await opener.ReadAtLeastAsync(buffer, Chunk, cancellationToken: Ct));
        await Assert.ThrowsAnyAsync<CryptographicException>(async () => await opener.ReadExactlyAsync(buffer, Ct));
        await Assert.ThrowsAnyAsync<CryptographicException>(async () => await opener.ReadExactlyAsync(buffer, Ct)); // and stays failed
        await opener.DisposeAsync();
    }

    [Fact]
    public async Task Data_after_the_last_chunk_is_refused()
    {
        var sealedBytes = await SealAsync(Plain(Chunk + 10), BoxA, "backup-1", async: true);
        await AssertRefusedAsync([.. sealedBytes, 0], BoxA, "backup-1");
        await AssertRefusedAsync([.. sealedBytes, .. sealedBytes[^30..]], BoxA, "backup-1"); // the last chunk again
        var empty = await SealAsync([], BoxA, "backup-1", async: false);
        await AssertRefusedAsync([.. empty, .. empty[^ChunkHeader..]], BoxA, "backup-1");
    }

    [Fact]
    public async Task Chunks_cannot_be_reordered_or_taken_from_another_file()
    {
        var plain = Plain(2 * Chunk + 10);
        var one = await SealAsync(plain, BoxA, "backup-1", async: true);
        var two = await SealAsync(plain, BoxA, "backup-1", async: true); // same key, context and plaintext
        const int header = 27;
        var chunk0 = one[header..(header + ChunkHeader + Chunk)];
        var chunk1 = one[(header + ChunkHeader + Chunk)..(header + 2 * (ChunkHeader + Chunk))];
        var rest = one[(header + 2 * (ChunkHeader + Chunk))..];

        await AssertRefusedAsync([.. one[..header], .. chunk1, .. chunk0, .. rest], BoxA, "backup-1");
        await AssertRefusedAsync([.. one[..header], .. chunk0, .. rest], BoxA, "backup-1");
        await AssertRefusedAsync([.. one[..header], .. chunk0, .. chunk1, .. chunk1, .. rest], BoxA, "backup-1");
        await AssertRefusedAsync([.. one[..header], .. chunk0, .. two[(header + ChunkHeader + Chunk)..]], BoxA, "backup-1");
        await AssertRefusedAsync([.. two[..header], .. one[header..]], BoxA, "backup-1");
    }

    [Fact]
    public async Task After_a_key_rotation_old_files_still_open_and_an_unknown_key_is_refused()
    {
        var plain = Plain(Chunk + 77);
        var sealedUnderA = await SealAsync(plain, BoxA, "backup-1", async: true);
        var rotated = new SecretBox(new Dictionary<string, byte[]> { ["kA"] = KeyA, ["kB"] = KeyB }, "kB");
        Assert.Equal("kB", rotated.ActiveKeyId);

        AssertSame(plain, await OpenAsync(sealedUnderA, rotated, "backup-1"));
        var sealedUnderB = await SealAsync(plain, rotated, "backup-1", async: false);
        Assert.Equal("kB", SealedStream.ReadKeyId(new MemoryStream(sealedUnderB)));
        AssertSame(plain, await OpenAsync(sealedUnderB, rotated, "backup-1", async: false));

        // BoxA never had kB; a keyring where kA is another key's id opens nothing sealed under the real kA.
        var error = await Assert.ThrowsAnyAsync<CryptographicException>(() => OpenAsync(sealedUnderB, BoxA, "backup-1"));
        Assert.Equal("Unknown key id.", error.Message);
        await AssertRefusedAsync(sealedUnderA, new SecretBox(new Dictionary<string, byte[]> { ["kA"] = KeyB }, "kA"), "backup-1");
        Assert.Throws<CryptographicException>(() => rotated.KeyFor("kC"));
    }

    private sealed class FailingStream : MemoryStream
    {
        public bool Fail { get; set; }

        public override void Write(byte[] buffer, int offset, int count)
        {
            if (Fail)
                throw new IOException("disk full");
            base.Write(buffer, offset, count);
        }
    }

    [Fact]
    public async Task After_a_failed_write_nothing_more_is_written_and_the_output_never_opens()
    {
        using var output = new FailingStream();
        var sealer = SealedStream.Encrypt(output, BoxA, "backup-1", leaveOpen: true);
        sealer.Write(Plain(Chunk));
        output.Fail = true;
        Assert.Equal("disk full", Assert.Throws<IOException>(() => sealer.Write(Plain(Chunk))).Message);
        output.Fail = false;
        Assert.Throws<IOException>(() => sealer.Write(Plain(Chunk)));
        var written = output.Length;
        sealer.Dispose(); // writes no last chunk
        Assert.Equal(written, output.Length);
        await AssertRefusedAsync(output.ToArray(), BoxA, "backup-1");
    }

    [Fact]
    public void What_is_not_a_sealed_stream_is_refused()
    {
        Assert.ThrowsAny<CryptographicException>(() => SealedStream.ReadKeyId(new MemoryStream("HEPDBSE2\u0002kA0123456789abcdef"u8.ToArray())));
        Assert.ThrowsAny<CryptographicException>(() => SealedStream.ReadKeyId(new MemoryStream("HEPDBSE1\u0002kA01"u8.ToArray())));
        using var opener = SealedStream.Decrypt(new MemoryStream(Encoding.UTF8.GetBytes("plain text, not sealed")), BoxA, "backup-1");
        Assert.ThrowsAny<CryptographicException>(() => opener.ReadByte());
    }
}
