using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using MongoDB.Bson;
using MongoDB.Bson.IO;
using MongoDB.Bson.Serialization;

namespace HepDb.Tests.Mongo;

/// <summary>
/// A FAKE MongoDB server: a small in-process wire-protocol responder for tests. It is NOT MongoDB and proves nothing
/// about how a real server behaves (privileges, role semantics, lock effects, sizes, <c>$currentOp</c> output). It exists
/// for what the official driver cannot show on its own: the EXACT command documents HepDb sends, how HepDb reads the
/// replies, and how it maps server refusals (scripted errors, a refused admin login, a dropped connection).
/// <para>What it speaks is what MongoDB.Driver 3.x sends: the legacy OP_QUERY (2004) <c>isMaster</c> handshake on
/// <c>admin.$cmd</c>, answered with OP_REPLY (1), then OP_MSG (2013) for everything else (it announces maxWireVersion 17,
/// i.e. MongoDB 6.0). Documents are read and written with MongoDB.Bson and exposed as JSON (relaxed extended JSON
/// shapes). It records every command document, answers <c>hello</c>/<c>isMaster</c> itself, and answers anything else
/// with <c>{ok:1}</c> unless a reply was scripted with <see cref="Script(string, Func{ReceivedCommand, JsonObject})"/>.
/// Logins (SCRAM-SHA-256 only, through saslStart/saslContinue; the driver's speculative authentication in the handshake
/// is ignored, so it falls back to saslStart) succeed only for users registered with <see cref="AcceptLogin"/> and the
/// right password, checked by <see cref="FakeScramSha256"/>; anything else is refused with AuthenticationFailed (18), as
/// a real server does. Once logged in, nothing is authorised or refused: the fake has no privileges at all. It does not
/// announce logical sessions, so the driver sends no <c>lsid</c> and no <c>endSessions</c>.</para>
/// </summary>
internal sealed class FakeMongoWireServer : IAsyncDisposable
{
    /// <summary>One command as received. <see cref="Body"/> is the document without the driver's envelope fields
    /// (<c>$db</c>, <c>$readPreference</c>, <c>lsid</c>, …), as compact JSON, for exact comparisons.</summary>
    public sealed record ReceivedCommand(string Database, string Name, JsonObject Document, int OpCode)
    {
        public string Body
        {
            get
            {
                var copy = (JsonObject)Document.DeepClone();
                foreach (var key in copy.Select(p => p.Key).Where(k => k.StartsWith('$') || k == "lsid").ToList()) copy.Remove(key);
                return copy.ToJsonString();
            }
        }

        public override string ToString() => $"{Database}: {Body}";
    }

    private static readonly HashSet<string> Handshake = new(StringComparer.OrdinalIgnoreCase) { "hello", "isMaster" };
    private static readonly HashSet<string> Plumbing = new(StringComparer.OrdinalIgnoreCase)
        { "hello", "isMaster", "ping", "endSessions", "saslStart", "saslContinue", "buildInfo" };

    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly List<ReceivedCommand> _received = [];
    private readonly Dictionary<string, Func<ReceivedCommand, JsonObject>> _scripts = new(StringComparer.OrdinalIgnoreCase);
    private readonly List<TcpClient> _clients = [];
    private readonly Thread _acceptLoop;
    private readonly FakeScramSha256 _scram = new();
    private int _connectionIds;

    public FakeMongoWireServer()
    {
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _acceptLoop = new Thread(AcceptLoop) { IsBackground = true, Name = "FakeMongoWireServer accept" };
        _acceptLoop.Start();
    }

    public int Port { get; }

    /// <summary>Every command received, in arrival order, handshakes included.</summary>
    public IReadOnlyList<ReceivedCommand> Received
    {
        get { lock (_received) return [.. _received]; }
    }

    /// <summary>The commands that carry HepDb's intent: everything except handshake, ping, buildInfo, SASL and session plumbing.</summary>
    public IReadOnlyList<ReceivedCommand> Commands => [.. Received.Where(c => !Plumbing.Contains(c.Name))];

    public void ClearReceived()
    {
        lock (_received) _received.Clear();
    }

    /// <summary>Lets <paramref name="user"/> log in (SCRAM-SHA-256) with exactly <paramref name="password"/>.</summary>
    public void AcceptLogin(string user, string password) => _scram.Accept(user, password);

    /// <summary>Scripts the reply to every later <paramref name="command"/> (case-insensitive name).</summary>
    public void Script(string command, Func<ReceivedCommand, JsonObject> reply)
    {
        lock (_scripts) _scripts[command] = reply;
    }

    public void Script(string command, JsonObject reply) => Script(command, _ => (JsonObject)reply.DeepClone());

    /// <summary>Scripts a server error reply shaped like MongoDB's: <c>{ok:0, errmsg, code, codeName}</c>.</summary>
    public void ScriptError(string command, int code, string codeName, string errmsg) =>
        Script(command, Error(code, codeName, errmsg));

    public static JsonObject Error(int code, string codeName, string errmsg) =>
        new() { ["ok"] = 0.0, ["errmsg"] = errmsg, ["code"] = code, ["codeName"] = codeName };

    private JsonObject Reply(ReceivedCommand cmd)
    {
        Func<ReceivedCommand, JsonObject>? script;
        lock (_scripts) _scripts.TryGetValue(cmd.Name, out script);
        if (script is not null) return script(cmd);
        if (Handshake.Contains(cmd.Name)) return HandshakeReply(cmd);
        if (cmd.Name.Equals("saslStart", StringComparison.OrdinalIgnoreCase)) return _scram.Start(cmd.Document);
        if (cmd.Name.Equals("saslContinue", StringComparison.OrdinalIgnoreCase)) return _scram.Continue(cmd.Document);
        return new JsonObject { ["ok"] = 1.0 };
    }

    private JsonObject HandshakeReply(ReceivedCommand cmd)
    {
        var reply = new JsonObject
        {
            ["ismaster"] = true,
            ["isWritablePrimary"] = true,
            ["helloOk"] = true,
            ["maxBsonObjectSize"] = 16 * 1024 * 1024,
            ["maxMessageSizeBytes"] = 48_000_000,
            ["maxWriteBatchSize"] = 100_000,
            ["minWireVersion"] = 0,
            ["maxWireVersion"] = 17,
            ["connectionId"] = Interlocked.Increment(ref _connectionIds),
            ["ok"] = 1.0,
        };
        if (cmd.Document.ContainsKey("saslSupportedMechs")) reply["saslSupportedMechs"] = new JsonArray("SCRAM-SHA-256");
        return reply;
    }

    /// <summary>The fake runs on its own threads with blocking I/O, not on the thread pool, so it keeps answering however
    /// busy the pool is with many tests in parallel.</summary>
    private void AcceptLoop()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = _listener.AcceptTcpClient();
            }
            catch (Exception) when (_stop.IsCancellationRequested)
            {
                return;
            }
            lock (_clients) _clients.Add(client);
            new Thread(() => Serve(client)) { IsBackground = true, Name = "FakeMongoWireServer connection" }.Start();
        }
    }

    private void Serve(TcpClient client)
    {
        try
        {
            using var _ = client;
            var stream = client.GetStream();
            var header = new byte[16];
            while (!_stop.IsCancellationRequested)
            {
                stream.ReadExactly(header);
                var length = BinaryPrimitives.ReadInt32LittleEndian(header);
                var requestId = BinaryPrimitives.ReadInt32LittleEndian(header.AsSpan(4));
                var opCode = BinaryPrimitives.ReadInt32LittleEndian(header.AsSpan(12));
                var body = new byte[length - 16];
                stream.ReadExactly(body);

                byte[]? response = opCode switch
                {
                    2004 => HandleQuery(body, requestId),
                    2013 => HandleMsg(body, requestId),
                    _ => throw new InvalidDataException($"FakeMongoWireServer: unsupported opcode {opCode}"),
                };
                if (response is not null) stream.Write(response);
            }
        }
        catch (Exception e) when (e is IOException or EndOfStreamException or ObjectDisposedException or SocketException)
        {
            // The client hung up, the test ended, or a script threw IOException to drop the connection on purpose.
        }
    }

    /// <summary>Legacy OP_QUERY: flags, "db.$cmd", skip, limit, command document. Answered with OP_REPLY.</summary>
    private byte[] HandleQuery(byte[] body, int requestId)
    {
        var pos = 4;
        var end = Array.IndexOf(body, (byte)0, pos);
        var collection = Encoding.UTF8.GetString(body, pos, end - pos);
        pos = end + 1 + 8;
        var doc = Read(body.AsSpan(pos), out _);
        var db = collection.EndsWith(".$cmd", StringComparison.Ordinal) ? collection[..^5] : collection;
        var reply = Write(Record(db, doc, 2004));

        var message = new byte[16 + 20 + reply.Length];
        WriteHeader(message, requestId, opCode: 1);
        // responseFlags 0, cursorID 0, startingFrom 0, numberReturned 1
        BinaryPrimitives.WriteInt32LittleEndian(message.AsSpan(32), 1);
        reply.CopyTo(message, 36);
        return message;
    }

    /// <summary>OP_MSG: flagBits, then sections (kind 0 = the body, kind 1 = a document sequence, added to the body as an
    /// array under its identifier). An optional CRC-32C checksum trails when flag bit 0 is set.</summary>
    private byte[]? HandleMsg(byte[] body, int requestId)
    {
        var flags = BinaryPrimitives.ReadUInt32LittleEndian(body);
        var end = body.Length - ((flags & 1) != 0 ? 4 : 0);
        var pos = 4;
        JsonObject? doc = null;
        var sequences = new List<(string, JsonArray)>();
        while (pos < end)
        {
            var kind = body[pos++];
            if (kind == 0)
            {
                doc = Read(body.AsSpan(pos), out var len);
                pos += len;
            }
            else
            {
                var size = BinaryPrimitives.ReadInt32LittleEndian(body.AsSpan(pos));
                var sectionEnd = pos + size;
                var idEnd = Array.IndexOf(body, (byte)0, pos + 4);
                var id = Encoding.UTF8.GetString(body, pos + 4, idEnd - pos - 4);
                var docs = new JsonArray();
                for (var p = idEnd + 1; p < sectionEnd;)
                {
                    docs.Add(Read(body.AsSpan(p), out var len));
                    p += len;
                }
                sequences.Add((id, docs));
                pos = sectionEnd;
            }
        }
        if (doc is null) throw new InvalidDataException("FakeMongoWireServer: OP_MSG without a body section");
        foreach (var (id, docs) in sequences) doc[id] = docs;
        var reply = Write(Record(doc["$db"]?.ToString() ?? "", doc, 2013));
        if ((flags & 2) != 0) return null; // moreToCome: the client expects no answer

        var message = new byte[16 + 5 + reply.Length];
        WriteHeader(message, requestId, opCode: 2013);
        message[20] = 0; // section kind 0
        reply.CopyTo(message, 21);
        return message;
    }

    private static readonly JsonWriterSettings RelaxedJson = new() { OutputMode = JsonOutputMode.RelaxedExtendedJson };

    /// <summary>One BSON document from the wire, as JSON in relaxed extended JSON shapes (e.g. <c>$binary</c>,
    /// <c>$regularExpression</c>; int64 as plain numbers).</summary>
    private static JsonObject Read(ReadOnlySpan<byte> bytes, out int length)
    {
        length = BinaryPrimitives.ReadInt32LittleEndian(bytes);
        var doc = BsonSerializer.Deserialize<BsonDocument>(bytes[..length].ToArray());
        return JsonNode.Parse(doc.ToJson(RelaxedJson))!.AsObject();
    }

    /// <summary>A JSON reply as BSON. Numbers keep their JSON form: <c>1</c> is an int32, <c>6000000000</c> an int64,
    /// <c>1.0</c> (as written in the test's JSON text) a double, <c>{"$numberLong":"0"}</c> an int64.</summary>
    private static byte[] Write(JsonObject reply) => BsonDocument.Parse(reply.ToJsonString()).ToBson();

    private JsonObject Record(string db, JsonObject doc, int opCode)
    {
        var cmd = new ReceivedCommand(db, doc.FirstOrDefault().Key ?? "", doc, opCode);
        lock (_received) _received.Add(cmd);
        return Reply(cmd);
    }

    private static void WriteHeader(byte[] message, int responseTo, int opCode)
    {
        BinaryPrimitives.WriteInt32LittleEndian(message, message.Length);
        BinaryPrimitives.WriteInt32LittleEndian(message.AsSpan(4), Random.Shared.Next());
        BinaryPrimitives.WriteInt32LittleEndian(message.AsSpan(8), responseTo);
        BinaryPrimitives.WriteInt32LittleEndian(message.AsSpan(12), opCode);
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        lock (_clients)
            foreach (var c in _clients) c.Dispose();
        _acceptLoop.Join(TimeSpan.FromSeconds(5));
        _stop.Dispose();
    }
}
