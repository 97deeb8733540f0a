// Drives Roster's LibreChat dialect with LibreChat's own client package, as the issue's
// "done when" asks: register, log in, read the user, update plugins, accept terms, read the
// balance, upload an avatar, verify the email through a link received over SMTP, delete the
// account. Usage: ROSTER_LIBRECHAT_URL=http://127.0.0.1:PORT/librechat node client.js
// The verification link is read from standard input after the script prints `NEED_LINK`
// (the Rust test reads it from the mail its SMTP server received).
'use strict';

const assert = require('node:assert/strict');
const readline = require('node:readline');
const axios = require('axios');
const { dataService, setTokenHeader } = require('librechat-data-provider');

const base = process.env.ROSTER_LIBRECHAT_URL;
if (!base) {
  console.error('ROSTER_LIBRECHAT_URL is not set');
  process.exit(2);
}
// The package sends root-relative URLs from Node; point its axios instance at Roster.
axios.defaults.baseURL = base;

const lines = readline.createInterface({ input: process.stdin });
const nextLine = () => new Promise((resolve) => lines.once('line', resolve));

// A 2x2 PNG.
const PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAEElEQVR4nGP4z8AARAwQCgAf7gP9i18U1AAAAABJRU5ErkJggg==',
  'base64',
);

async function expectStatus(promise, status) {
  try {
    await promise;
  } catch (e) {
    assert.equal(e.response && e.response.status, status, String(e));
    return e.response;
  }
  assert.fail(`expected HTTP ${status}`);
}

async function main() {
  const email = `client${Date.now()}@example.org`;
  const password = 'correct horse battery';
  const registered = await dataService.register({
    name: 'Client Test',
    email,
    username: 'clienttest',
    password,
    confirm_password: password,
  });
  assert.match(registered.message, /check your email/);
  console.log('register: ok');

  const login = await dataService.login({ email, password });
  assert.ok(login.token, 'login returns a token');
  setTokenHeader(login.token);
  console.log('login: ok');

  let user = await dataService.getUser();
  assert.match(user.id, /^[0-9a-f]{24}$/);
  assert.equal(user._id, user.id);
  assert.equal(user.email, email);
  assert.ok(['ADMIN', 'USER'].includes(user.role));
  assert.equal(user.emailVerified, false);
  console.log('getUser: ok');

  await dataService.updateUserPlugins({ pluginKey: 'dalle', action: 'install', auth: null });
  user = await dataService.getUser();
  assert.deepEqual(user.plugins, ['dalle']);
  console.log('updateUserPlugins: ok');

  const prefs = await dataService.updateUserPreferences({ statefulCodeEnvironment: 'conversation' });
  assert.equal(prefs.updated, true);
  console.log('updateUserPreferences: ok');

  const accepted = await dataService.acceptTerms();
  assert.ok(accepted.termsAcceptedAt);
  const terms = await dataService.getUserTerms();
  assert.equal(terms.termsAccepted, true);
  console.log('acceptTerms: ok');

  const balance = await dataService.getUserBalance();
  assert.equal(typeof balance.tokenCredits, 'number');
  console.log('getUserBalance: ok');

  const form = new FormData();
  form.append('file', new Blob([PNG], { type: 'image/png' }), 'avatar.png');
  form.append('manual', 'true');
  const avatar = await dataService.uploadAvatar(form);
  assert.match(avatar.url, /\/avatars\/.+\.png$/);
  const image = await axios.get(avatar.url.replace(/^.*\/avatars\//, '/avatars/'), { responseType: 'arraybuffer' });
  assert.equal(image.headers['content-type'], 'image/png');
  console.log('uploadAvatar: ok');

  const resent = await dataService.resendVerificationEmail({ email });
  assert.match(resent.message, /check your email/);
  console.log('NEED_LINK');
  const link = new URL((await nextLine()).trim());
  const verified = await dataService.verifyEmail({
    email: link.searchParams.get('email'),
    token: link.searchParams.get('token'),
  });
  assert.match(verified.message, /verified/);
  user = await dataService.getUser();
  assert.equal(user.emailVerified, true);
  console.log('verifyEmail: ok');

  // Two-factor authentication; the test answers NEED_CODE <step offset> <otpauth URL> with the
  // code of the server clock's step.
  const enabled = await dataService.enableTwoFactor();
  assert.match(enabled.otpauthUrl, /^otpauth:\/\/totp\//);
  assert.equal(enabled.backupCodes.length, 10);
  console.log(`NEED_CODE 0 ${enabled.otpauthUrl}`);
  const code0 = (await nextLine()).trim();
  await dataService.verifyTwoFactor({ token: code0 });
  await dataService.confirmTwoFactor({ token: code0 });
  user = await dataService.getUser();
  assert.equal(user.twoFactorEnabled, true);
  console.log('enableTwoFactor, verifyTwoFactor, confirmTwoFactor: ok');
  const pending = await dataService.login({ email, password });
  assert.equal(pending.twoFAPending, true);
  assert.ok(pending.tempToken && !pending.token);
  console.log(`NEED_CODE 1 ${enabled.otpauthUrl}`);
  const code1 = (await nextLine()).trim();
  await expectStatus(dataService.verifyTwoFactorTemp({ tempToken: pending.tempToken, token: code0 }), 401);
  const second = await dataService.verifyTwoFactorTemp({ tempToken: pending.tempToken, token: code1 });
  assert.ok(second.token);
  assert.equal(second.user.twoFactorEnabled, true);
  setTokenHeader(second.token);
  console.log('login with twoFAPending, verifyTwoFactorTemp: ok');
  const regenerated = await dataService.regenerateBackupCodes({ backupCode: enabled.backupCodes[0] });
  assert.equal(regenerated.backupCodes.length, 10);
  console.log('regenerateBackupCodes: ok');
  await expectStatus(dataService.deleteUser(), 400);

  const deleted = await dataService.deleteUser({ backupCode: regenerated.backupCodes[0] });
  assert.ok(deleted.message);
  await expectStatus(dataService.getUser(), 401);
  console.log('deleteUser: ok');
  console.log('ALL OK');
}

main()
  .then(() => process.exit(0))
  .catch((e) => {
    console.error(e && e.response ? `${e.message}: ${JSON.stringify(e.response.data)}` : e);
    process.exit(1);
  });
