using System.Net;
using System.Net.Sockets;

namespace HepDb.Allowlists;

/// <summary>Reads the address ranges of an allowlist the way people write them: <c>203.0.113.0/24</c>,
/// <c>2001:db8::/32</c>, or one address (<c>198.51.100.7</c>, meaning /32 or /128). A range written with host bits set
/// (<c>203.0.113.9/24</c>) is taken as the network it names. Duplicates go; the order is kept.</summary>
public static class Cidrs
{
    /// <summary>More ranges than this on one database are refused: each becomes an engine account or rule.</summary>
    public const int MaxEntries = 50;

    /// <summary>The ranges, or the first problem as a sentence naming the entry.</summary>
    public static (IReadOnlyList<IPNetwork>? Ranges, string? Problem) Parse(IReadOnlyList<string?> entries)
    {
        if (entries.Count > MaxEntries) return (null, $"An allowlist holds at most {MaxEntries} ranges; got {entries.Count}.");
        var ranges = new List<IPNetwork>();
        for (var i = 0; i < entries.Count; i++)
        {
            if (TryParse(entries[i], out var range)) { if (!ranges.Contains(range)) ranges.Add(range); continue; }
            return (null, $"cidrs[{i}] \"{Shown(entries[i])}\" is not an IP address or range like 203.0.113.0/24 or 2001:db8::/32.");
        }
        return (ranges, null);
    }

    /// <summary>An entry as a message may quote it: at most 64 characters, control characters replaced.</summary>
    private static string Shown(string? entry) =>
        new((entry ?? "").Take(64).Select(c => char.IsControl(c) || c == '"' ? '?' : c).ToArray());

    public static bool TryParse(string? text, out IPNetwork range)
    {
        range = default;
        if (string.IsNullOrWhiteSpace(text) || text.Length > 64) return false;
        var parts = text.Trim().Split('/');
        if (parts.Length > 2 || !IPAddress.TryParse(parts[0], out var address) || parts[0].Contains('%', StringComparison.Ordinal)) return false;
        if (address.AddressFamily is not (AddressFamily.InterNetwork or AddressFamily.InterNetworkV6)) return false;
        if (address.IsIPv4MappedToIPv6) address = address.MapToIPv4();
        var bits = address.AddressFamily == AddressFamily.InterNetwork ? 32 : 128;
        var prefix = bits;
        if (parts.Length == 2 && (!int.TryParse(parts[1], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out prefix) || prefix > bits))
            return false;
        range = new IPNetwork(Masked(address, prefix), prefix);
        return true;
    }

    /// <summary>The stored form: the ranges in their canonical text, space-separated; null for none (anywhere).</summary>
    public static string? Store(IReadOnlyList<IPNetwork> ranges) => ranges.Count == 0 ? null : string.Join(' ', ranges);

    public static IReadOnlyList<IPNetwork> Load(string? stored) =>
        string.IsNullOrEmpty(stored) ? [] : stored.Split(' ').Select(IPNetwork.Parse).ToList();

    private static IPAddress Masked(IPAddress address, int prefix)
    {
        var bytes = address.GetAddressBytes();
        for (var i = 0; i < bytes.Length; i++)
        {
            var keep = Math.Clamp(prefix - i * 8, 0, 8);
            bytes[i] &= (byte)(0xFF << (8 - keep));
        }
        return new IPAddress(bytes);
    }
}
