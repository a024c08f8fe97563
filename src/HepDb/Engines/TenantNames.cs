using System.Text.RegularExpressions;

namespace HepDb.Engines;

/// <summary>
/// Database and user names (SPEC §2) and the only place identifiers are validated and quoted for engine DDL.
/// Engines take no placeholders for identifiers, so every name that reaches DDL passes <see cref="Require"/> first.
/// </summary>
public static partial class TenantNames
{
    public static string DatabaseName(EngineKind engine, string accountSlug, int slot) => $"u{engine.NameLetter()}_{accountSlug}_{slot}";
    public static string UserName(EngineKind engine, string accountSlug, int slot) => $"du{engine.NameLetter()}_{accountSlug}_{slot}";

    /// <summary>Matches names HepDb creates: <c>u{e}_{slug}_{n}</c> and <c>du{e}_{slug}_{n}</c>.</summary>
    [GeneratedRegex("^d?u[mpg]_([a-z0-9]{1,10})_([1-9][0-9]{0,5})$")]
    public static partial Regex Pattern();

    [GeneratedRegex("^[a-z0-9_]{1,63}$")]
    private static partial Regex SafeIdentifier();

    /// <summary>Throws unless <paramref name="identifier"/> is 1–63 characters of [a-z0-9_].</summary>
    public static string Require(string identifier) =>
        SafeIdentifier().IsMatch(identifier) ? identifier
            : throw new ArgumentException("Refusing an identifier outside [a-z0-9_]{1,63}.", nameof(identifier));

    /// <summary>A password as a SQL string literal. Passwords are generated from [A-Za-z0-9] and hashes are hex/base64,
    /// so quotes and backslashes cannot occur; anything else is refused rather than escaped.</summary>
    [GeneratedRegex("^[A-Za-z0-9+/=$:*-]{1,200}$")]
    private static partial Regex SafeLiteral();

    public static string Literal(string value) =>
        SafeLiteral().IsMatch(value) ? $"'{value}'"
            : throw new ArgumentException("Refusing a literal outside the safe alphabet.", nameof(value));

    public static string MariaDbQuote(string identifier) => $"`{Require(identifier)}`";

    /// <summary>For <c>GRANT … ON `db`.*</c>: '_' is a wildcard in MariaDB database grants, so it is escaped.</summary>
    public static string MariaDbGrantPattern(string database) => $"`{Require(database).Replace("_", "\\_", StringComparison.Ordinal)}`";

    public static string PostgresQuote(string identifier) => $"\"{Require(identifier)}\"";
}
