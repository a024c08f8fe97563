using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;

namespace HepDb.Tests.Mongo;

/// <summary>
/// The server half of SCRAM-SHA-256 (RFC 5802 / RFC 7677) for <see cref="FakeMongoWireServer"/>, so the official driver can
/// complete a tenant login against the fake when the test registered that user's password, and fails it otherwise.
/// It checks the client proof like a server would; it says nothing about how mongod stores or rotates credentials.
/// </summary>
internal sealed class FakeScramSha256
{
    private const int Iterations = 4096; // drivers must refuse fewer for SCRAM-SHA-256 (auth spec)
    private readonly ConcurrentDictionary<string, string> _passwords = new();
    private readonly ConcurrentDictionary<int, (string ClientFirstBare, string ServerFirst, byte[] Salted)> _conversations = new();
    private int _ids;

    public void Accept(string user, string password) => _passwords[user] = password;

    public void Forget(string user) => _passwords.TryRemove(user, out _);

    public JsonObject Start(JsonObject cmd)
    {
        if (cmd["mechanism"]?.ToString() != "SCRAM-SHA-256") return Refused();
        var clientFirst = Payload(cmd);                        // "n,,n=user,r=nonce"
        var bare = clientFirst[(clientFirst.IndexOf(",,", StringComparison.Ordinal) + 2)..];
        var fields = Fields(bare);
        if (!_passwords.TryGetValue(fields["n"], out var password)) return Refused();
        var salt = RandomNumberGenerator.GetBytes(28); // what mongod uses for SHA-256
        var serverFirst = $"r={fields["r"]}{Convert.ToBase64String(RandomNumberGenerator.GetBytes(18))},s={Convert.ToBase64String(salt)},i={Iterations}";
        var salted = Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(password), salt, Iterations, HashAlgorithmName.SHA256, 32);
        var id = Interlocked.Increment(ref _ids);
        _conversations[id] = (bare, serverFirst, salted);
        return Step(id, done: false, serverFirst);
    }

    public JsonObject Continue(JsonObject cmd)
    {
        var id = cmd["conversationId"]!.GetValue<int>();
        if (!_conversations.TryRemove(id, out var c)) return Refused();
        var clientFinal = Payload(cmd);                        // "c=biws,r=nonce,p=proof"
        var withoutProof = clientFinal[..clientFinal.LastIndexOf(",p=", StringComparison.Ordinal)];
        var proof = Convert.FromBase64String(Fields(clientFinal)["p"]);
        var authMessage = Encoding.UTF8.GetBytes($"{c.ClientFirstBare},{c.ServerFirst},{withoutProof}");

        var storedKey = SHA256.HashData(HMACSHA256.HashData(c.Salted, "Client Key"u8));
        var signature = HMACSHA256.HashData(storedKey, authMessage);
        var clientKey = proof.Zip(signature, (a, b) => (byte)(a ^ b)).ToArray();
        if (!CryptographicOperations.FixedTimeEquals(SHA256.HashData(clientKey), storedKey)) return Refused();

        var serverSignature = HMACSHA256.HashData(HMACSHA256.HashData(c.Salted, "Server Key"u8), authMessage);
        return Step(id, done: true, "v=" + Convert.ToBase64String(serverSignature));
    }

    private static JsonObject Step(int id, bool done, string payload) => new()
    {
        ["conversationId"] = id,
        ["done"] = done,
        ["payload"] = new JsonObject { ["$binary"] = new JsonObject { ["base64"] = Convert.ToBase64String(Encoding.UTF8.GetBytes(payload)), ["subType"] = "00" } },
        ["ok"] = 1.0,
    };

    private static JsonObject Refused() => FakeMongoWireServer.Error(18, "AuthenticationFailed", "Authentication failed.");

    private static string Payload(JsonObject cmd) =>
        Encoding.UTF8.GetString(Convert.FromBase64String(cmd["payload"]!["$binary"]!["base64"]!.GetValue<string>()));

    private static Dictionary<string, string> Fields(string message) =>
        message.Split(',').Where(f => f.Length > 1 && f[1] == '=').ToDictionary(f => f[..1], f => f[2..]);
}
