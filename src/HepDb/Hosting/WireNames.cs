namespace HepDb.Hosting;

/// <summary>The fixed names an enum's values have in the API, the metadata store and the operator tool (for instance
/// <c>over_quota</c>). The C# names of the values are never shown or stored, so they can be renamed freely.</summary>
public sealed class WireNames<T>(params (T Value, string Name)[] names) where T : struct, Enum
{
    public T[] All { get; } = names.Select(n => n.Value).ToArray();

    public string Of(T value)
    {
        foreach (var (v, name) in names)
            if (EqualityComparer<T>.Default.Equals(v, value)) return name;
        throw new ArgumentOutOfRangeException(nameof(value), value, null);
    }

    public bool TryParse(string? wire, out T value)
    {
        foreach (var (v, name) in names)
            if (name == wire) { value = v; return true; }
        value = default;
        return false;
    }

    public T Parse(string wire) =>
        TryParse(wire, out var v) ? v : throw new ArgumentException($"Unknown {typeof(T).Name} '{wire}'.", nameof(wire));
}
