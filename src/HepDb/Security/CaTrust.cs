using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace HepDb.Security;

/// <summary>Verifies an engine server's certificate against one CA file (a private CA, such as the local servers'),
/// instead of the machine's trust store.</summary>
public static class CaTrust
{
    /// <summary>A TLS validation callback's answer: the name must match, and the chain must end at the CA in
    /// <paramref name="caFile"/>.</summary>
    public static bool Accepts(string caFile, X509Certificate? certificate, SslPolicyErrors errors)
    {
        if (certificate is null || errors.HasFlag(SslPolicyErrors.RemoteCertificateNotAvailable) || errors.HasFlag(SslPolicyErrors.RemoteCertificateNameMismatch))
            return false;
        if (errors == SslPolicyErrors.None) return true;
        using var ca = X509Certificate2.CreateFromPem(File.ReadAllText(caFile));
        using var leaf = new X509Certificate2(certificate);
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(ca);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        return chain.Build(leaf);
    }
}
