"""The hash chain's columns (filled for existing rows by 0003), the chain head, signed
checkpoints and prune records; and foreign keys that no longer cascade into the log."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('audit', '0001_initial'),
        ('orgs', '0001_initial'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name='auditevent',
            name='seq',
            field=models.BigIntegerField(null=True),
        ),
        migrations.AddField(
            model_name='auditevent',
            name='uid',
            field=models.UUIDField(editable=False, null=True),
        ),
        migrations.AddField(
            model_name='auditevent',
            name='key_id',
            field=models.CharField(blank=True, default='', max_length=36),
        ),
        migrations.AddField(
            model_name='auditevent',
            name='payload',
            field=models.BinaryField(null=True),
        ),
        migrations.AddField(
            model_name='auditevent',
            name='prev_hash',
            field=models.CharField(default='', max_length=64),
        ),
        migrations.AddField(
            model_name='auditevent',
            name='entry_hash',
            field=models.CharField(default='', max_length=64),
        ),
        migrations.AlterField(
            model_name='auditevent',
            name='org',
            field=models.ForeignKey(db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='audit_events', to='orgs.organisation'),
        ),
        migrations.AlterField(
            model_name='auditevent',
            name='actor_user',
            field=models.ForeignKey(db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AlterField(
            model_name='auditevent',
            name='actor_api_key',
            field=models.ForeignKey(db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='orgs.apikey'),
        ),
        migrations.AlterField(
            model_name='auditevent',
            name='actor_kind',
            field=models.CharField(choices=[('user', 'Person'), ('api_key', 'API key'), ('system', 'System'), ('anonymous', 'Anonymous')], max_length=10),
        ),
        migrations.AlterField(
            model_name='auditevent',
            name='created_at',
            field=models.DateTimeField(db_index=True),
        ),
        migrations.CreateModel(
            name='AuditChainHead',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('seq', models.BigIntegerField(default=0)),
                ('entry_hash', models.CharField(max_length=64)),
            ],
        ),
        migrations.CreateModel(
            name='AuditCheckpoint',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('seq', models.BigIntegerField(unique=True)),
                ('entry_hash', models.CharField(max_length=64)),
                ('created_at', models.DateTimeField()),
                ('key_id', models.CharField(max_length=80)),
                ('signature', models.CharField(max_length=128)),
            ],
            options={
                'ordering': ['seq'],
            },
        ),
        migrations.CreateModel(
            name='AuditPrune',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('first_seq', models.BigIntegerField()),
                ('last_seq', models.BigIntegerField(unique=True)),
                ('last_hash', models.CharField(max_length=64)),
                ('entries', models.BigIntegerField()),
                ('created_at', models.DateTimeField()),
                ('key_id', models.CharField(max_length=80)),
                ('signature', models.CharField(max_length=128)),
            ],
            options={
                'ordering': ['last_seq'],
            },
        ),
    ]
