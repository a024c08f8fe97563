using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using HepDb.Hosting;
using Microsoft.Extensions.Options;

namespace HepDb.Security;

/// <summary>Encryption keys for database passwords at rest.</summary>
public sealed class SecretsOptions
{
    public const string Section = "Secrets";

    /// <summary>Keys by id, each 32 bytes in base64. When empty, a key file <c>{DataDir}/keyring.json</c> is created on first run and used.</summary>
    public Dictionary<string, string> Keys { get; set; } = [];

    /// <summary>The key id new secrets are encrypted with. Required when <see cref="Keys"/> is set; older ids stay readable, which is how a key is rotated.</summary>
    public string? ActiveKeyId { get; set; }
}

/// <summary>
/// The one place recoverable secrets are encrypted: AES-256-GCM with a random 96-bit nonce, the record id as
/// associated data (a ciphertext copied onto another record does not decrypt), and a key id so keys can rotate.
/// Format: <c>v1.{keyId}.{base64(nonce | tag | ciphertext)}</c>.
/// </summary>
public sealed class SecretBox
{
    private readonly Dictionary<string, byte[]> _keys;
    private readonly string _activeKeyId;

    public SecretBox(IReadOnlyDictionary<string, byte[]> keys, string activeKeyId)
    {
        if (!keys.TryGetValue(activeKeyId, out var active) || active.Length != 32)
            throw new InvalidOperationException($"Secrets: the active key '{activeKeyId}' is missing or not 32 bytes.");
        if (keys.Values.Any(k => k.Length != 32))
            throw new InvalidOperationException("Secrets: every key must be 32 bytes (base64 of 32 random bytes).");
        _keys = keys.ToDictionary(k => k.Key, k => k.Value);
        _activeKeyId = activeKeyId;
    }

    /// <summary>The id of the key new data is sealed with.</summary>
    public string ActiveKeyId => _activeKeyId;

    /// <summary>The key with the given id, for the stream cipher (<see cref="SealedStream"/>); unknown ids are refused.</summary>
    internal byte[] KeyFor(string keyId) =>
        _keys.TryGetValue(keyId, out var key) ? key : throw new CryptographicException("Unknown key id.");

    public static SecretBox Create(IOptions<SecretsOptions> options, IOptions<HepDbOptions> hepdb)
    {
        var o = options.Value;
        if (o.Keys.Count > 0)
        {
            var keys = o.Keys.ToDictionary(k => k.Key, k => Convert.FromBase64String(k.Value));
            return new SecretBox(keys, o.ActiveKeyId ?? throw new InvalidOperationException("Secrets:ActiveKeyId is required when Secrets:Keys is set."));
        }
        return LoadOrCreateKeyFile(Path.Combine(hepdb.Value.ResolveDataDir(), "keyring.json"));
    }

    private sealed record KeyFile(string ActiveKeyId, Dictionary<string, string> Keys);

    private static SecretBox LoadOrCreateKeyFile(string path)
    {
        if (!File.Exists(path))
        {
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            var id = "k" + DateTime.UtcNow.ToString("yyyyMMdd");
            var file = new KeyFile(id, new() { [id] = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)) });
            var tmp = path + ".tmp";
            File.WriteAllText(tmp, JsonSerializer.Serialize(file));
            File.SetUnixFileMode(tmp, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            File.Move(tmp, path, overwrite: false);
        }
        var loaded = JsonSerializer.Deserialize<KeyFile>(File.ReadAllText(path))
            ?? throw new InvalidOperationException($"Secrets: the key file {path} is empty.");
        return new SecretBox(loaded.Keys.ToDictionary(k => k.Key, k => Convert.FromBase64String(k.Value)), loaded.ActiveKeyId);
    }

    public string Encrypt(string plaintext, string recordId)
    {
        var key = _keys[_activeKeyId];
        var plain = Encoding.UTF8.GetBytes(plaintext);
        var blob = new byte[12 + 16 + plain.Length];
        var nonce = blob.AsSpan(0, 12);
        RandomNumberGenerator.Fill(nonce);
        using var aes = new AesGcm(key, 16);
        aes.Encrypt(nonce, plain, blob.AsSpan(28), blob.AsSpan(12, 16), Encoding.UTF8.GetBytes(recordId));
        return $"v1.{_activeKeyId}.{Convert.ToBase64String(blob)}";
    }

    public string Decrypt(string sealedValue, string recordId)
    {
        var parts = sealedValue.Split('.');
        if (parts.Length != 3 || parts[0] != "v1" || !_keys.TryGetValue(parts[1], out var key))
            throw new CryptographicException("Unknown secret format or key id.");
        var blob = Convert.FromBase64String(parts[2]);
        var plain = new byte[blob.Length - 28];
        using var aes = new AesGcm(key, 16);
        aes.Decrypt(blob.AsSpan(0, 12), blob.AsSpan(28), blob.AsSpan(12, 16), plain, Encoding.UTF8.GetBytes(recordId));
        return Encoding.UTF8.GetString(plain);
    }
}
