using System.Xml.Linq;
using HepDb.Data;
using Microsoft.AspNetCore.DataProtection.Repositories;

namespace HepDb.Web.Users;

/// <summary>Keeps ASP.NET Core's data-protection key ring in the metadata store (see <see cref="DataProtectionKey"/>).</summary>
public sealed class MetadataXmlRepository(IServiceScopeFactory scopes) : IXmlRepository
{
    public IReadOnlyCollection<XElement> GetAllElements()
    {
        using var scope = scopes.CreateScope();
        var db = scope.ServiceProvider.GetRequiredService<HepDbContext>();
        return db.DataProtectionKeys.AsEnumerable().Select(k => XElement.Parse(k.Xml)).ToList();
    }

    public void StoreElement(XElement element, string friendlyName)
    {
        using var scope = scopes.CreateScope();
        var db = scope.ServiceProvider.GetRequiredService<HepDbContext>();
        db.DataProtectionKeys.Add(new DataProtectionKey
        {
            Id = (string?)element.Attribute("id") ?? Guid.NewGuid().ToString("N"),
            FriendlyName = friendlyName,
            Xml = element.ToString(SaveOptions.DisableFormatting),
        });
        db.SaveChanges();
    }
}

/// <summary>Seals data-protection keys with HepDb's own <see cref="Security.SecretBox"/> (AES-256-GCM) before they are
/// stored, so the metadata store alone is not enough to forge a dashboard session.</summary>
public sealed class SecretBoxXmlEncryptor(Security.SecretBox box) : Microsoft.AspNetCore.DataProtection.XmlEncryption.IXmlEncryptor
{
    public const string AssociatedData = "data-protection-key";

    public Microsoft.AspNetCore.DataProtection.XmlEncryption.EncryptedXmlInfo Encrypt(XElement plaintextElement) =>
        new(new XElement("sealed", box.Encrypt(plaintextElement.ToString(SaveOptions.DisableFormatting), AssociatedData)), typeof(SecretBoxXmlDecryptor));
}

public sealed class SecretBoxXmlDecryptor(IServiceProvider services) : Microsoft.AspNetCore.DataProtection.XmlEncryption.IXmlDecryptor
{
    public XElement Decrypt(XElement encryptedElement) =>
        XElement.Parse(services.GetRequiredService<Security.SecretBox>().Decrypt(encryptedElement.Value, SecretBoxXmlEncryptor.AssociatedData));
}
