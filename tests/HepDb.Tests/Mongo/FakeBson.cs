using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace HepDb.Tests.Mongo;

/// <summary>
/// A minimal BSON reader/writer for <see cref="FakeMongoWireServer"/>. It decodes the types libmongoc sends in command
/// documents into JSON (extended JSON shapes for the non-JSON types) and encodes JSON replies back. Test-only.
/// </summary>
internal static class FakeBson
{
    public static JsonObject Read(ReadOnlySpan<byte> bytes, out int length)
    {
        length = BinaryPrimitives.ReadInt32LittleEndian(bytes);
        var doc = new JsonObject();
        var pos = 4;
        while (bytes[pos] != 0)
        {
            var type = bytes[pos++];
            var name = CString(bytes, ref pos);
            doc[name] = ReadValue(type, bytes, ref pos);
        }
        return doc;
    }

    private static JsonNode? ReadValue(byte type, ReadOnlySpan<byte> b, ref int pos)
    {
        switch (type)
        {
            case 0x01: { var v = BinaryPrimitives.ReadDoubleLittleEndian(b[pos..]); pos += 8; return JsonValue.Create(v); }
            case 0x02:
            {
                var len = BinaryPrimitives.ReadInt32LittleEndian(b[pos..]);
                var s = Encoding.UTF8.GetString(b.Slice(pos + 4, len - 1));
                pos += 4 + len;
                return JsonValue.Create(s);
            }
            case 0x03: { var d = Read(b[pos..], out var len); pos += len; return d; }
            case 0x04:
            {
                var d = Read(b[pos..], out var len);
                pos += len;
                var a = new JsonArray();
                foreach (var (k, v) in d.ToList()) { d.Remove(k); a.Add(v); }
                return a;
            }
            case 0x05:
            {
                var len = BinaryPrimitives.ReadInt32LittleEndian(b[pos..]);
                var sub = b[pos + 4];
                var data = Convert.ToBase64String(b.Slice(pos + 5, len));
                pos += 5 + len;
                return new JsonObject { ["$binary"] = new JsonObject { ["base64"] = data, ["subType"] = sub.ToString("x2") } };
            }
            case 0x07: { var hex = Convert.ToHexString(b.Slice(pos, 12)).ToLowerInvariant(); pos += 12; return new JsonObject { ["$oid"] = hex }; }
            case 0x08: return JsonValue.Create(b[pos++] != 0);
            case 0x09: { var ms = BinaryPrimitives.ReadInt64LittleEndian(b[pos..]); pos += 8; return new JsonObject { ["$date"] = ms }; }
            case 0x0A: return null;
            case 0x0B:
            {
                var pattern = CString(b, ref pos);
                var options = CString(b, ref pos);
                return new JsonObject { ["$regularExpression"] = new JsonObject { ["pattern"] = pattern, ["options"] = options } };
            }
            case 0x10: { var v = BinaryPrimitives.ReadInt32LittleEndian(b[pos..]); pos += 4; return JsonValue.Create(v); }
            case 0x11:
            {
                var i = BinaryPrimitives.ReadUInt32LittleEndian(b[pos..]);
                var t = BinaryPrimitives.ReadUInt32LittleEndian(b[(pos + 4)..]);
                pos += 8;
                return new JsonObject { ["$timestamp"] = new JsonObject { ["t"] = t, ["i"] = i } };
            }
            case 0x12: { var v = BinaryPrimitives.ReadInt64LittleEndian(b[pos..]); pos += 8; return JsonValue.Create(v); }
            default: throw new NotSupportedException($"FakeBson cannot read BSON type 0x{type:x2}");
        }
    }

    private static string CString(ReadOnlySpan<byte> b, ref int pos)
    {
        var end = b[pos..].IndexOf((byte)0);
        var s = Encoding.UTF8.GetString(b.Slice(pos, end));
        pos += end + 1;
        return s;
    }

    /// <summary>Encodes a JSON object. Integers become int32 (int64 when too large), other numbers doubles; an object of
    /// the form <c>{"$binary":{"base64":…,"subType":…}}</c> becomes binary (needed for SASL payloads).</summary>
    public static byte[] Write(JsonObject doc)
    {
        using var ms = new MemoryStream();
        WriteDoc(ms, doc.Select(p => (p.Key, p.Value)));
        return ms.ToArray();
    }

    private static void WriteDoc(MemoryStream ms, IEnumerable<(string Key, JsonNode? Value)> items)
    {
        var start = ms.Position;
        ms.Write(new byte[4]);
        foreach (var (key, value) in items) WriteElement(ms, key, value);
        ms.WriteByte(0);
        var end = ms.Position;
        ms.Position = start;
        ms.Write(BitConverter.GetBytes((int)(end - start)));
        ms.Position = end;
    }

    private static void WriteElement(MemoryStream ms, string key, JsonNode? value)
    {
        void Head(byte type)
        {
            ms.WriteByte(type);
            ms.Write(Encoding.UTF8.GetBytes(key));
            ms.WriteByte(0);
        }

        switch (value)
        {
            case null: Head(0x0A); break;
            case JsonObject o when o["$binary"] is JsonObject bin:
            {
                Head(0x05);
                var data = Convert.FromBase64String(bin["base64"]!.GetValue<string>());
                ms.Write(BitConverter.GetBytes(data.Length));
                ms.WriteByte(Convert.ToByte(bin["subType"]?.GetValue<string>() ?? "00", 16));
                ms.Write(data);
                break;
            }
            case JsonObject o: Head(0x03); WriteDoc(ms, o.Select(p => (p.Key, p.Value))); break;
            case JsonArray a: Head(0x04); WriteDoc(ms, a.Select((v, i) => (i.ToString(), v))); break;
            case JsonValue v:
                switch (v.GetValueKind())
                {
                    case JsonValueKind.String:
                        Head(0x02);
                        var s = Encoding.UTF8.GetBytes(v.GetValue<string>());
                        ms.Write(BitConverter.GetBytes(s.Length + 1));
                        ms.Write(s);
                        ms.WriteByte(0);
                        break;
                    case JsonValueKind.True or JsonValueKind.False:
                        Head(0x08);
                        ms.WriteByte(v.GetValue<bool>() ? (byte)1 : (byte)0);
                        break;
                    case JsonValueKind.Number when v.TryGetValue<int>(out var i):
                        Head(0x10);
                        ms.Write(BitConverter.GetBytes(i));
                        break;
                    case JsonValueKind.Number when v.TryGetValue<long>(out var l):
                        Head(0x12);
                        ms.Write(BitConverter.GetBytes(l));
                        break;
                    case JsonValueKind.Number:
                        Head(0x01);
                        ms.Write(BitConverter.GetBytes(v.GetValue<double>()));
                        break;
                    default: Head(0x0A); break;
                }
                break;
        }
    }
}
