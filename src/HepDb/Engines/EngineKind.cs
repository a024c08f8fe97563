namespace HepDb.Engines;

public enum EngineKind { MariaDb, Postgres, Mongo }

public static class EngineKinds
{
    public static readonly EngineKind[] All = [EngineKind.MariaDb, EngineKind.Postgres, EngineKind.Mongo];

    /// <summary>The API value: <c>mariadb</c>, <c>postgres</c>, <c>mongo</c>.</summary>
    public static string WireName(this EngineKind kind) => kind switch
    {
        EngineKind.MariaDb => "mariadb",
        EngineKind.Postgres => "postgres",
        EngineKind.Mongo => "mongo",
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    /// <summary>The letter used in database and user names (SPEC §2).</summary>
    public static char NameLetter(this EngineKind kind) => kind switch
    {
        EngineKind.MariaDb => 'm',
        EngineKind.Postgres => 'p',
        EngineKind.Mongo => 'g',
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    public static string DisplayName(this EngineKind kind) => kind switch
    {
        EngineKind.MariaDb => "MariaDB",
        EngineKind.Postgres => "PostgreSQL",
        EngineKind.Mongo => "MongoDB",
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    public static bool TryParse(string? wire, out EngineKind kind)
    {
        foreach (var k in All)
            if (k.WireName() == wire) { kind = k; return true; }
        kind = default;
        return false;
    }

    public static EngineKind Parse(string wire) =>
        TryParse(wire, out var k) ? k : throw new ArgumentException($"Unknown engine '{wire}'.", nameof(wire));
}
