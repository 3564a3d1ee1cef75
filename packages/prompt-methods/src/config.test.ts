import { ConfigError } from '@visual-peft/vit-core';
import { describe, expect, it } from 'vitest';
import { resolveGatedPromptConfig, resolveVptConfig } from './config';

describe('resolveVptConfig', () => {
  it('fills the VPT code’s defaults', () => {
    expect(resolveVptConfig()).toEqual({ numPrompts: 5, dropout: 0, init: 'uniform', sampleSize: 20_000, seed: 0, promptBlock: 0, deep: false });
    expect(resolveVptConfig({ promptBlock: 3 })).toMatchObject({ promptBlock: 3, deep: false });
    expect(resolveVptConfig({ numPrompts: 10, deep: true, init: 'kmeans', dropout: 0.1 })).toMatchObject({ numPrompts: 10, deep: true, init: 'kmeans', dropout: 0.1 });
  });

  it.each([
    [{ numPrompts: 0 }, /^numPrompts must be an integer >= 1, got 0$/],
    [{ numPrompts: 2.5 }, /^numPrompts must be an integer >= 1, got 2.5$/],
    [{ numPrompts: '10' }, /^numPrompts must be an integer >= 1, got "10"$/],
    [{ dropout: 1 }, /^dropout must be a finite number in \[0, 1\), got 1$/],
    [{ dropout: -0.1 }, /^dropout must be a finite number in \[0, 1\), got -0.1$/],
    [{ init: 'xavier' }, /^init must be one of uniform, kmeans, mean-pool, max-pool, random-token, got "xavier"$/],
    [{ sampleSize: 0 }, /^sampleSize must be an integer >= 1, got 0$/],
    [{ seed: -1 }, /^seed must be an integer >= 0, got -1$/],
    [{ deep: 'yes' }, /^deep must be true or false, got "yes"$/],
    [{ gates: true }, /^vpt.gates is not an option \(options: numPrompts, dropout, init, sampleSize, seed, promptBlock, deep\), got true$/],
    [{ promptBlock: -1 }, /^promptBlock must be an integer >= 0, got -1$/],
    [{ promptBlock: 1.5 }, /^promptBlock must be an integer >= 0, got 1.5$/],
    [{ promptBlock: 2, deep: true }, /^promptBlock must be 0 for VPT-deep \(a set enters every block\), got 2$/],
  ])('refuses %j, naming the field', (input, message) => {
    expect(() => resolveVptConfig(input as never)).toThrow(ConfigError);
    expect(() => resolveVptConfig(input as never)).toThrow(message);
  });
});

describe('resolveGatedPromptConfig', () => {
  it('fills the authors’ code defaults: gates at -10, temperatures on, soft gates', () => {
    expect(resolveGatedPromptConfig()).toEqual({
      numPrompts: 5,
      dropout: 0,
      init: 'uniform',
      sampleSize: 20_000,
      seed: 0,
      promptBlock: 0,
      gates: true,
      gateInit: 10,
      temperature: true,
      hardGates: false,
      hardGateTemperature: 1,
    });
  });

  it.each([
    [{ gates: 1 }, /^gates must be true or false, got 1$/],
    [{ temperature: 'on' }, /^temperature must be true or false, got "on"$/],
    [{ hardGates: 'true' }, /^hardGates must be true or false, got "true"$/],
    [{ gateInit: Number.NaN }, /^gateInit must be a finite number, got NaN$/],
    [{ gateInit: '5' }, /^gateInit must be a finite number, got "5"$/],
    [{ hardGateTemperature: 0 }, /^hardGateTemperature must be a finite number > 0, got 0$/],
    [{ hardGates: true, gates: false }, /^hardGates needs gates: true, got true$/],
    [{ deep: true }, /^gated-prompt.deep is not an option \(options: numPrompts, dropout, init, sampleSize, seed, promptBlock, gates, gateInit, temperature, hardGates, hardGateTemperature\), got true$/],
    [{ numPrompts: -1 }, /^numPrompts must be an integer >= 1, got -1$/],
    [{ promptBlock: '3' }, /^promptBlock must be an integer >= 0, got "3"$/],
  ])('refuses %j, naming the field', (input, message) => {
    expect(() => resolveGatedPromptConfig(input as never)).toThrow(ConfigError);
    expect(() => resolveGatedPromptConfig(input as never)).toThrow(message);
  });
});
