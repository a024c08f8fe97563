using System.Security.Cryptography;

namespace HepDb.Security;

/// <summary>Random secrets. Everything comes from the OS CSPRNG and uses [A-Za-z0-9] only, so nothing needs URL escaping.</summary>
public static class Secrets
{
    public const string Alphanumeric = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

    public static string Generate(int length) => RandomNumberGenerator.GetString(Alphanumeric, length);

    /// <summary>Database passwords: 32 alphanumeric characters (about 190 bits).</summary>
    public static string NewDatabasePassword() => Generate(32);

    public static string Sha256Hex(string value) =>
        Convert.ToHexStringLower(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(value)));
}
