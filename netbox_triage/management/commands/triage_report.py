from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from users.models import User

from netbox_triage.models import Incident
from netbox_triage.postmortem import PostmortemError, render_pdf, render_postmortem


class Command(BaseCommand):
    help = 'Write the post-mortem of an incident: Markdown to standard output, or Markdown/PDF to --output.'

    def add_arguments(self, parser):
        parser.add_argument('incident', type=int, help='the incident ID')
        parser.add_argument('--format', choices=('md', 'pdf'), default='md')
        parser.add_argument('--output', '-o', help='write to this file (required for PDF)')
        parser.add_argument('--user', help='include only what this NetBox user may view (default: everything)')

    def handle(self, *args, **options):
        incident = Incident.objects.filter(pk=options['incident']).first()
        if incident is None:
            raise CommandError(f"no incident #{options['incident']}")
        user = None
        if options['user']:
            user = User.objects.filter(username=options['user']).first()
            if user is None:
                raise CommandError(f"no NetBox user {options['user']!r}")
        postmortem = render_postmortem(incident, user=user)
        if options['format'] == 'pdf':
            if not options['output']:
                raise CommandError('a PDF needs --output FILE')
            try:
                Path(options['output']).write_bytes(render_pdf(postmortem))
            except PostmortemError as exc:
                raise CommandError(str(exc)) from exc
        elif options['output']:
            Path(options['output']).write_text(postmortem.markdown, encoding='utf-8')
        else:
            self.stdout.write(postmortem.markdown, ending='')
        if options['output']:
            self.stderr.write(f"post-mortem of incident #{incident.pk} written to {options['output']}")
