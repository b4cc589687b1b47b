"""Drop the clear-text columns (their content now lives in the sealed payload) and make
the chain columns required. (``actor_label`` gets a default first only so that
migrating back can re-create the column over existing rows; 0003 then refills it.)"""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('audit', '0003_chain_backfill'),
    ]

    operations = [
        migrations.AlterField(
            model_name='auditevent',
            name='actor_label',
            field=models.CharField(blank=True, default='', max_length=254),
        ),
        migrations.RemoveField(
            model_name='auditevent',
            name='actor_label',
        ),
        migrations.RemoveField(
            model_name='auditevent',
            name='after',
        ),
        migrations.RemoveField(
            model_name='auditevent',
            name='before',
        ),
        migrations.AlterField(
            model_name='auditevent',
            name='seq',
            field=models.BigIntegerField(unique=True),
        ),
        migrations.AlterField(
            model_name='auditevent',
            name='uid',
            field=models.UUIDField(editable=False, unique=True),
        ),
        migrations.AlterField(
            model_name='auditevent',
            name='payload',
            field=models.BinaryField(),
        ),
        migrations.AlterField(
            model_name='auditevent',
            name='prev_hash',
            field=models.CharField(max_length=64),
        ),
        migrations.AlterField(
            model_name='auditevent',
            name='entry_hash',
            field=models.CharField(max_length=64),
        ),
        migrations.AlterModelOptions(
            name='auditevent',
            options={'ordering': ['seq']},
        ),
        migrations.AddIndex(
            model_name='auditevent',
            index=models.Index(fields=['org', '-seq'], name='audit_org_seq'),
        ),
        migrations.AddIndex(
            model_name='auditevent',
            index=models.Index(fields=['org', 'action'], name='audit_org_action'),
        ),
    ]
