using HepDb.Hosting;
using Microsoft.EntityFrameworkCore.Storage.ValueConversion;

namespace HepDb.Engines;

public enum EngineKind { MariaDb, Postgres, Mongo }

public static class EngineKinds
{
    private static readonly WireNames<EngineKind> Names =
        new((EngineKind.MariaDb, "mariadb"), (EngineKind.Postgres, "postgres"), (EngineKind.Mongo, "mongo"));

    public static readonly EngineKind[] All = Names.All;

    /// <summary>The API value: <c>mariadb</c>, <c>postgres</c>, <c>mongo</c>.</summary>
    public static string WireName(this EngineKind kind) => Names.Of(kind);

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

    public static bool TryParse(string? wire, out EngineKind kind) => Names.TryParse(wire, out kind);

    public static EngineKind Parse(string wire) => Names.Parse(wire);
}

/// <summary>Stores an <see cref="EngineKind"/> as its wire name.</summary>
public sealed class EngineKindConverter() : ValueConverter<EngineKind, string>(k => k.WireName(), s => EngineKinds.Parse(s));
