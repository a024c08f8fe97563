using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;

namespace HepDb.Data.Migrations;

/// <summary>Dashboard sign-in: users (one per account) and the data-protection keys that sign their cookies.</summary>
[DbContext(typeof(HepDbContext))]
[Migration("20261123000006_DashboardUsers")]
public sealed class DashboardUsers : Migration
{
    protected override void Up(MigrationBuilder m)
    {
        m.CreateTable("dashboard_users", t => new
        {
            Id = t.Column<string>(maxLength: 26),
            AccountId = t.Column<string>(maxLength: 26),
            Email = t.Column<string>(maxLength: 254),
            NormalizedEmail = t.Column<string>(maxLength: 254),
            PasswordHash = t.Column<string>(maxLength: 512, nullable: true),
            SecurityStamp = t.Column<string>(maxLength: 64),
            LockoutEndUtc = t.Column<DateTime>(nullable: true),
            AccessFailedCount = t.Column<int>(),
            CreatedAt = t.Column<DateTime>(),
        }, constraints: t =>
        {
            t.PrimaryKey("PK_dashboard_users", x => x.Id);
            t.ForeignKey("FK_dashboard_users_accounts_AccountId", x => x.AccountId, "accounts", "Id", onDelete: ReferentialAction.Cascade);
        });
        m.CreateIndex("IX_dashboard_users_NormalizedEmail", "dashboard_users", "NormalizedEmail", unique: true);
        m.CreateIndex("IX_dashboard_users_AccountId", "dashboard_users", "AccountId");

        m.CreateTable("data_protection_keys", t => new
        {
            Id = t.Column<string>(maxLength: 64),
            FriendlyName = t.Column<string>(maxLength: 256, nullable: true),
            Xml = t.Column<string>(),
        }, constraints: t => t.PrimaryKey("PK_data_protection_keys", x => x.Id));
    }

    protected override void Down(MigrationBuilder m)
    {
        m.DropTable("data_protection_keys");
        m.DropTable("dashboard_users");
    }
}
