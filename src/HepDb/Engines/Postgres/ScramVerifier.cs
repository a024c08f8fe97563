using System.Security.Cryptography;
using System.Text;

namespace HepDb.Engines.Postgres;

/// <summary>
/// A PostgreSQL SCRAM-SHA-256 verifier computed here, so <c>CREATE/ALTER ROLE … PASSWORD</c> never carries the
/// cleartext (which could end up in server logs). Format (RFC 5803 as PostgreSQL stores it):
/// <c>SCRAM-SHA-256$iterations:salt$StoredKey:ServerKey</c>. Our passwords are ASCII alphanumerics, for which SASLprep
/// is the identity.
/// </summary>
public static class ScramVerifier
{
    public const int Iterations = 4096;

    public static string Compute(string password, byte[]? salt = null)
    {
        salt ??= RandomNumberGenerator.GetBytes(16);
        var salted = Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(password), salt, Iterations, HashAlgorithmName.SHA256, 32);
        var clientKey = HMACSHA256.HashData(salted, "Client Key"u8);
        var storedKey = SHA256.HashData(clientKey);
        var serverKey = HMACSHA256.HashData(salted, "Server Key"u8);
        return $"SCRAM-SHA-256${Iterations}:{Convert.ToBase64String(salt)}${Convert.ToBase64String(storedKey)}:{Convert.ToBase64String(serverKey)}";
    }
}
