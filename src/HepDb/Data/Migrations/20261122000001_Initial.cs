using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;

namespace HepDb.Data.Migrations;

/// <summary>Accounts, API keys, databases, the audit log and idempotency keys and background-work leases. Written by hand (no EF design
/// package on our mirror) and provider-neutral: column types come from each provider's mapping of the CLR type.</summary>
[DbContext(typeof(HepDbContext))]
[Migration("20261122000001_Initial")]
public sealed class Initial : Migration
{
    protected override void Up(MigrationBuilder m)
    {
        m.CreateTable("accounts", t => new
        {
            Id = t.Column<string>(maxLength: 26),
            Email = t.Column<string>(maxLength: 254),
            Tier = t.Column<string>(maxLength: 16),
            CreatedAt = t.Column<DateTime>(),
            SuspendedAt = t.Column<DateTime>(nullable: true),
            SuspendReason = t.Column<string>(maxLength: 500, nullable: true),
            Revision = t.Column<long>(),
        }, constraints: t => t.PrimaryKey("PK_accounts", x => x.Id));
        m.CreateIndex("IX_accounts_Email", "accounts", "Email", unique: true);

        m.CreateTable("api_keys", t => new
        {
            Id = t.Column<string>(maxLength: 26),
            AccountId = t.Column<string>(maxLength: 26),
            Label = t.Column<string>(maxLength: 100, nullable: true),
            Prefix = t.Column<string>(maxLength: 20),
            Hash = t.Column<string>(maxLength: 64),
            CreatedAt = t.Column<DateTime>(),
            DisabledAt = t.Column<DateTime>(nullable: true),
            SuspendedAt = t.Column<DateTime>(nullable: true),
            LastUsedAt = t.Column<DateTime>(nullable: true),
            LastUsedIp = t.Column<string>(maxLength: 64, nullable: true),
        }, constraints: t =>
        {
            t.PrimaryKey("PK_api_keys", x => x.Id);
            t.ForeignKey("FK_api_keys_accounts_AccountId", x => x.AccountId, "accounts", "Id", onDelete: ReferentialAction.Cascade);
        });
        m.CreateIndex("IX_api_keys_Hash", "api_keys", "Hash", unique: true);
        m.CreateIndex("IX_api_keys_AccountId", "api_keys", "AccountId");

        m.CreateTable("databases", t => new
        {
            Id = t.Column<string>(maxLength: 26),
            AccountId = t.Column<string>(maxLength: 26),
            Name = t.Column<string>(maxLength: 64),
            Engine = t.Column<string>(maxLength: 16),
            Slot = t.Column<int>(),
            DbName = t.Column<string>(maxLength: 64),
            DbUser = t.Column<string>(maxLength: 64),
            PasswordSealed = t.Column<string>(maxLength: 200),
            PendingPasswordSealed = t.Column<string>(maxLength: 200, nullable: true),
            PendingSince = t.Column<DateTime>(nullable: true),
            Status = t.Column<string>(maxLength: 16),
            Phase = t.Column<string>(maxLength: 16),
            PhaseChangedAt = t.Column<DateTime>(),
            ConnectionLimit = t.Column<int>(),
            SizeBytes = t.Column<long>(),
            SizeRefreshedAt = t.Column<DateTime>(nullable: true),
            CreatedAt = t.Column<DateTime>(),
        }, constraints: t =>
        {
            t.PrimaryKey("PK_databases", x => x.Id);
            t.ForeignKey("FK_databases_accounts_AccountId", x => x.AccountId, "accounts", "Id", onDelete: ReferentialAction.Restrict);
        });
        m.CreateIndex("IX_databases_AccountId_Engine_Slot", "databases", ["AccountId", "Engine", "Slot"], unique: true);
        m.CreateIndex("IX_databases_Engine_DbName", "databases", ["Engine", "DbName"], unique: true);

        m.CreateTable("audit_log", t => new
        {
            Id = t.Column<string>(maxLength: 26),
            At = t.Column<DateTime>(),
            AccountId = t.Column<string>(maxLength: 26, nullable: true),
            Actor = t.Column<string>(maxLength: 64),
            Action = t.Column<string>(maxLength: 64),
            TargetId = t.Column<string>(maxLength: 64, nullable: true),
            Ip = t.Column<string>(maxLength: 64, nullable: true),
            Detail = t.Column<string>(maxLength: 1000, nullable: true),
        }, constraints: t => t.PrimaryKey("PK_audit_log", x => x.Id));
        m.CreateIndex("IX_audit_log_AccountId_At", "audit_log", ["AccountId", "At"]);

        m.CreateTable("idempotency_keys", t => new
        {
            AccountId = t.Column<string>(maxLength: 26),
            Key = t.Column<string>(maxLength: 255),
            RequestHash = t.Column<string>(maxLength: 64),
            DatabaseId = t.Column<string>(maxLength: 26, nullable: true),
            CreatedAt = t.Column<DateTime>(),
        }, constraints: t => t.PrimaryKey("PK_idempotency_keys", x => new { x.AccountId, x.Key }));
        m.CreateIndex("IX_idempotency_keys_CreatedAt", "idempotency_keys", "CreatedAt");

        m.CreateTable("leases", t => new
        {
            Name = t.Column<string>(maxLength: 64),
            Holder = t.Column<string>(maxLength: 64),
            ExpiresAt = t.Column<DateTime>(),
        }, constraints: t => t.PrimaryKey("PK_leases", x => x.Name));
    }

    protected override void Down(MigrationBuilder m)
    {
        m.DropTable("leases");
        m.DropTable("idempotency_keys");
        m.DropTable("audit_log");
        m.DropTable("databases");
        m.DropTable("api_keys");
        m.DropTable("accounts");
    }
}
