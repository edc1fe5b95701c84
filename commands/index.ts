/** Every slash command, for the bot and for the registration script. */
import type { Command } from '../src/bot/command.ts';
import { autojoin } from './autojoin.ts';
import { captions } from './captions.ts';
import { end } from './end.ts';
import { forget } from './forget.ts';
import { join } from './join.ts';
import { keyterms } from './keyterms.ts';
import { languages } from './languages.ts';
import { optin } from './optin.ts';
import { optout } from './optout.ts';
import { recap } from './recap.ts';
import { recapTemplateCommand } from './recap-template.ts';
import { recording } from './recording.ts';
import { spokenLanguages } from './spoken-languages.ts';
import { status } from './status.ts';

export const commands: readonly Command[] = [join, end, status, keyterms, languages, spokenLanguages, recap, recapTemplateCommand, optout, optin, forget, captions, autojoin, recording];
