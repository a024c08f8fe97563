using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace HepDb.Hosting.LocalEngines;

/// <summary>The files of the local servers' TLS: a private CA and one server certificate it signed.</summary>
public sealed record LocalTlsFiles(string CaCertificate, string ServerCertificate, string ServerKey);

/// <summary>
/// A private certificate authority for the local engine servers, made at first start under
/// <c>{DataDir}/engines/tls/</c>: <c>ca.pem</c> (10 years) and <c>server.pem</c> (one year) with their keys (ECDSA
/// P-256, files 0600, folder 0700). The server certificate names every host the servers are reached or published
/// under (<c>localhost</c>, <c>127.0.0.1</c>, <c>::1</c> and each server's host and public host), so clients can
/// verify fully (<c>sslmode=verify-full</c>, <c>--ssl-verify-server-cert</c>) with the CA file. It is made again when
/// fewer than <see cref="RenewBefore"/> remain or the names changed; the CA when fewer than two years remain.
/// </summary>
public static class LocalCertificates
{
    public static readonly TimeSpan RenewBefore = TimeSpan.FromDays(30);
    private static readonly TimeSpan ServerLifetime = TimeSpan.FromDays(365);
    private static readonly TimeSpan CaLifetime = TimeSpan.FromDays(3650);
    private static readonly TimeSpan CaRenewBefore = TimeSpan.FromDays(730);

    public static LocalTlsFiles Files(string enginesDir)
    {
        var dir = Path.Combine(enginesDir, "tls");
        return new LocalTlsFiles(Path.Combine(dir, "ca.pem"), Path.Combine(dir, "server.pem"), Path.Combine(dir, "server.key"));
    }

    /// <summary>Makes what is missing, expiring or out of date. Returns whether the server certificate was (re)made, so
    /// running servers must load it again.</summary>
    public static bool Ensure(string enginesDir, IEnumerable<string> hostNames, DateTimeOffset now)
    {
        var files = Files(enginesDir);
        var dir = Path.GetDirectoryName(files.CaCertificate)!;
        Directory.CreateDirectory(dir);
        File.SetUnixFileMode(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var caKeyFile = Path.Combine(dir, "ca.key");
        var names = hostNames.Append("localhost").Append("127.0.0.1").Append("::1")
            .Where(n => !string.IsNullOrWhiteSpace(n) && !n.StartsWith('/')).Select(n => n.Trim().ToLowerInvariant()).Distinct().Order(StringComparer.Ordinal).ToList();

        var renewCa = !File.Exists(files.CaCertificate) || !File.Exists(caKeyFile) || ExpiresWithin(files.CaCertificate, CaRenewBefore, now);
        if (renewCa)
        {
            using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var request = new CertificateRequest("CN=HepDb local engines CA", caKey, HashAlgorithmName.SHA256);
            request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 0, true));
            request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
            request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
            using var ca = request.CreateSelfSigned(now.AddMinutes(-5), now + CaLifetime);
            WritePrivate(caKeyFile, caKey.ExportPkcs8PrivateKeyPem());
            WritePublic(files.CaCertificate, ca.ExportCertificatePem());
        }

        if (!renewCa && File.Exists(files.ServerCertificate) && File.Exists(files.ServerKey)
            && !ExpiresWithin(files.ServerCertificate, RenewBefore, now) && SameNames(files.ServerCertificate, names))
            return false;

        using var issuer = X509Certificate2.CreateFromPemFile(files.CaCertificate, caKeyFile);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var server = new CertificateRequest("CN=" + names[0], key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        foreach (var name in names)
            if (IPAddress.TryParse(name, out var ip)) san.AddIpAddress(ip); else san.AddDnsName(name);
        server.CertificateExtensions.Add(san.Build());
        server.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        server.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyAgreement, true));
        server.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false)); // server authentication
        server.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(issuer, true, false));
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7f; // a positive serial number
        using var cert = server.Create(issuer, now.AddMinutes(-5), now + ServerLifetime, serial);
        WritePrivate(files.ServerKey, key.ExportPkcs8PrivateKeyPem());
        WritePublic(files.ServerCertificate, cert.ExportCertificatePem());
        return true;
    }

    private static bool ExpiresWithin(string pemFile, TimeSpan margin, DateTimeOffset now)
    {
        try
        {
            using var cert = X509Certificate2.CreateFromPem(File.ReadAllText(pemFile));
            return cert.NotAfter.ToUniversalTime() - now.UtcDateTime < margin;
        }
        catch (CryptographicException)
        {
            return true; // unreadable: make it again
        }
    }

    private static bool SameNames(string pemFile, IReadOnlyList<string> names)
    {
        using var cert = X509Certificate2.CreateFromPem(File.ReadAllText(pemFile));
        var ext = cert.Extensions.OfType<X509SubjectAlternativeNameExtension>().FirstOrDefault();
        if (ext is null) return false;
        var present = ext.EnumerateDnsNames().Concat(ext.EnumerateIPAddresses().Select(ip => ip.ToString())).Select(n => n.ToLowerInvariant()).ToHashSet();
        return present.SetEquals(names.Select(n => IPAddress.TryParse(n, out var ip) ? ip.ToString().ToLowerInvariant() : n));
    }

    /// <summary>Written next to the target, then moved over it, so a crash never leaves half a key.</summary>
    private static void WritePrivate(string path, string pem) => WriteAtomically(path, pem, UnixFileMode.UserRead | UnixFileMode.UserWrite);

    private static void WritePublic(string path, string pem) =>
        WriteAtomically(path, pem, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);

    private static void WriteAtomically(string path, string text, UnixFileMode mode)
    {
        var part = path + ".part";
        using (var f = new FileStream(part, new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write, UnixCreateMode = mode }))
        using (var w = new StreamWriter(f))
        {
            w.Write(text);
            w.Flush();
            f.Flush(flushToDisk: true);
        }
        File.SetUnixFileMode(part, mode);
        File.Move(part, path, overwrite: true);
    }
}
